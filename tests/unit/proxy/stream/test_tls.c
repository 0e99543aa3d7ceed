/* proxy/tls: handshakes, transfers, writev and pending data over non-blocking socketpairs. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/stream/tls.h"
#include "tls_testkit.h"

#if defined(__SANITIZE_ADDRESS__)
/* From ASan's allocator interface (Debian's gcc ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}
#endif

TestSuite(tls, .init = tls_kit_setup, .fini = tls_kit_teardown, .timeout = 60);

Test(tls, handshake_and_echo_both_ways)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 0);
    cr_assert(ag_tls_established(c.srv.t) && ag_tls_established(c.cli.t), "srv '%s' cli '%s'",
              ag_tls_error(c.srv.t), ag_tls_error(c.cli.t));
    cr_assert_str_empty(ag_tls_error(c.cli.t));
    tk_echo(&c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    tk_echo(&c, "second round trip on the same connection");
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

Test(tls, large_transfer_with_partial_writes_and_want_write)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 8192); /* small socket buffers force WANT_WRITE */
    cr_assert(ag_tls_established(c.cli.t), "%s", ag_tls_error(c.cli.t));
    size_t len = 4u << 20;
    unsigned char *data = malloc(len);
    cr_assert_not_null(data);
    tk_fill(data, len, 7);
    size_t cuts[] = {len}; /* one big iovec: each call is cut into records */
    struct tk_xfer_stats st = {0};
    unsigned char *got =
        tk_transfer(c.cli.t, c.cli.fd, c.srv.t, c.srv.fd, data, len, cuts, 1, 5000, &st);
    cr_assert_eq(memcmp(got, data, len), 0);
    cr_log_info("4 MiB: %d WANT_WRITE, %d short writes, %d reads", st.want_write, st.short_writes,
                st.reads);
    cr_assert_gt(st.want_write, 0, "the socket never filled up");
    cr_assert_gt(st.short_writes, 0, "every write went out whole");
    cr_assert_gt(st.want_write, 100, "few retries after WANT_WRITE were exercised");
    free(got);
    /* And back, with the reader using large reads. */
    got = tk_transfer(c.srv.t, c.srv.fd, c.cli.t, c.cli.fd, data, len, cuts, 1, 65536, &st);
    cr_assert_eq(memcmp(got, data, len), 0);
    free(got);
    free(data);
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

Test(tls, writev_many_small_iovecs_go_out_as_one_record)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 0);
    char parts[60][8];
    struct iovec iov[60];
    char expect[60 * 8 + 1] = "";
    size_t total = 0;
    for (int i = 0; i < 60; i++) {
        int n = snprintf(parts[i], sizeof(parts[i]), "p%02d;", i);
        iov[i].iov_base = parts[i];
        iov[i].iov_len = (size_t)n;
        memcpy(expect + total, parts[i], (size_t)n);
        total += (size_t)n;
    }
    cr_assert_eq(ag_tls_writev(c.cli.t, iov, 60), (ssize_t)total);
    char got[1024];
    ssize_t m = AG_TLS_WANT_READ;
    for (int i = 0; i < 100 && m == AG_TLS_WANT_READ; i++) {
        m = ag_tls_read(c.srv.t, got, sizeof(got));
        if (m == AG_TLS_WANT_READ)
            (void)poll(&(struct pollfd){.fd = c.srv.fd, .events = POLLIN}, 1, 20);
    }
    /* One read returns everything: the iovecs were coalesced into a single record. */
    cr_assert_eq(m, (ssize_t)total, "first read returned %zd of %zu", m, total);
    cr_assert_eq(memcmp(got, expect, total), 0);
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

Test(tls, writev_larger_than_a_record_keeps_iovec_order)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 8192); /* retries with other iovec cuts */
    size_t len = 300000;
    unsigned char *data = malloc(len);
    cr_assert_not_null(data);
    tk_fill(data, len, 3);
    size_t cuts[] = {1, 5000, 17000, 3, 40000, 16384, 2, 16383};
    struct tk_xfer_stats st = {0};
    unsigned char *got = tk_transfer(c.cli.t, c.cli.fd, c.srv.t, c.srv.fd, data, len, cuts,
                                     (int)(sizeof(cuts) / sizeof(cuts[0])), 70000, &st);
    cr_assert_eq(memcmp(got, data, len), 0);
    cr_assert_gt(st.want_write, 0, "no retry after WANT_WRITE was exercised");
    free(got);
    free(data);
    /* Zero-length iovecs are skipped; nothing at all to write is 0. */
    struct iovec empty[2] = {{.iov_base = NULL, .iov_len = 0}, {.iov_base = NULL, .iov_len = 0}};
    cr_assert_eq(ag_tls_writev(c.cli.t, empty, 2), 0);
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

Test(tls, pending_when_a_record_is_larger_than_the_read_buffer)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 0);
    unsigned char data[10000];
    tk_fill(data, sizeof(data), 9);
    struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
    cr_assert_eq(ag_tls_writev(c.cli.t, &iov, 1), (ssize_t)sizeof(data));
    cr_assert_not(ag_tls_pending(c.srv.t));
    unsigned char got[sizeof(data)];
    ssize_t m = AG_TLS_WANT_READ;
    for (int i = 0; i < 100 && m == AG_TLS_WANT_READ; i++) {
        m = ag_tls_read(c.srv.t, got, 100);
        if (m == AG_TLS_WANT_READ)
            (void)poll(&(struct pollfd){.fd = c.srv.fd, .events = POLLIN}, 1, 20);
    }
    cr_assert_eq(m, 100);
    cr_assert(ag_tls_pending(c.srv.t), "the rest of the record is buffered in OpenSSL");
    /* The rest comes without waiting for the socket (it has nothing more to say). */
    size_t have = 100;
    while (ag_tls_pending(c.srv.t)) {
        m = ag_tls_read(c.srv.t, got + have, 3000);
        cr_assert_gt(m, 0);
        have += (size_t)m;
    }
    cr_assert_eq(have, sizeof(data));
    cr_assert_eq(memcmp(got, data, sizeof(data)), 0);
    cr_assert_eq(ag_tls_read(c.srv.t, got, sizeof(got)), AG_TLS_WANT_READ);
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

/* ---- protocol policy ---- */

static SSL_CTX *raw_client(int max_version, const char *ciphers12)
{
    SSL_CTX *raw = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(raw);
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, NULL);
    cr_assert_eq(SSL_CTX_set_max_proto_version(raw, max_version), 1);
    if (ciphers12 != NULL)
        cr_assert_eq(SSL_CTX_set_cipher_list(raw, ciphers12), 1);
    return raw;
}

Test(tls, tls13_is_preferred)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key);
    SSL_CTX *raw = raw_client(TLS1_3_VERSION, NULL);
    struct tk_conn c;
    tk_raw_open(&c, s, raw);
    cr_assert(ag_tls_established(c.srv.t), "%s", ag_tls_error(c.srv.t));
    cr_assert_eq(SSL_version(c.cli.raw), TLS1_3_VERSION);
    tk_raw_close(&c);
    SSL_CTX_free(raw);
    ag_tls_ctx_unref(s);
}

Test(tls, tls12_client_gets_ecdhe_with_aead)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key);
    /* The client lists CBC first: the server's preference (AEAD only) wins. */
    SSL_CTX *raw =
        raw_client(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                   "ECDHE-ECDSA-CHACHA20-POLY1305");
    struct tk_conn c;
    tk_raw_open(&c, s, raw);
    cr_assert(ag_tls_established(c.srv.t), "%s", ag_tls_error(c.srv.t));
    cr_assert_eq(SSL_version(c.cli.raw), TLS1_2_VERSION);
    const SSL_CIPHER *ci = SSL_get_current_cipher(c.cli.raw);
    cr_assert_not_null(ci);
    cr_log_info("TLS 1.2 cipher: %s", SSL_CIPHER_get_name(ci));
    cr_assert(SSL_CIPHER_is_aead(ci), "%s", SSL_CIPHER_get_name(ci));
    cr_assert_eq(SSL_CIPHER_get_kx_nid(ci), NID_kx_ecdhe);
    tk_raw_close(&c);
    SSL_CTX_free(raw);
    ag_tls_ctx_unref(s);
}

Test(tls, tls12_client_offering_only_cbc_is_refused)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key);
    SSL_CTX *raw = raw_client(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA");
    struct tk_conn c;
    tk_raw_open(&c, s, raw);
    cr_assert_eq(c.srv.last, AG_TLS_ERROR);
    cr_assert(strstr(ag_tls_error(c.srv.t), "no shared cipher") != NULL, "%s",
              ag_tls_error(c.srv.t));
    tk_raw_close(&c);
    SSL_CTX_free(raw);
    ag_tls_ctx_unref(s);
}

Test(tls, certificate_chain_file_sends_the_intermediate)
{
    /* The client trusts only the root: the handshake works because chain.pem's intermediate is
     * sent along with the leaf. */
    struct ag_tls_ctx *s = tk_server_ctx(tk_chain_cert, tk_chain_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 0);
    cr_assert(ag_tls_established(c.cli.t), "%s", ag_tls_error(c.cli.t));
    tk_echo(&c, "through an intermediate");
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

/* SSL_MODE_RELEASE_BUFFERS: idle keep-alive connections must not keep 2 x 16 KiB of record
 * buffers each (measured here: about 24 KiB per connection with it, 49 KiB without). */
Test(tls, idle_connections_release_their_record_buffers)
{
    enum { N = 48 };
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    static struct tk_conn c[N];
    size_t before = heap_in_use();
    for (int i = 0; i < N; i++) {
        tk_conn_open(&c[i], s, k, "localhost", 0);
        cr_assert(ag_tls_established(c[i].cli.t), "%s", ag_tls_error(c[i].cli.t));
        tk_echo(&c[i], "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    }
    size_t after = heap_in_use();
    double per_conn = (double)(after - before) / (2.0 * N);
    cr_log_info("%.1f KiB per idle TLS connection", per_conn / 1024);
    cr_assert_lt(per_conn, 40.0 * 1024, "%.0f bytes per idle connection", per_conn);
    for (int i = 0; i < N; i++)
        tk_conn_close(&c[i]);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

/* The upstream side: connect, then write the request at once; writev drives the handshake and
 * says WANT_READ until it is done. */
Test(tls, client_writev_drives_the_handshake)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    int sv[2];
    tk_sock_pair(sv, 0);
    struct ag_tls *srv = ag_tls_accept(s, sv[0]), *cli = ag_tls_connect(k, sv[1], "localhost");
    cr_assert(srv != NULL && cli != NULL);
    const char req[] = "GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    struct iovec iov[2] = {{.iov_base = (void *)req, .iov_len = 20},
                           {.iov_base = (void *)(req + 20), .iov_len = sizeof(req) - 21}};
    ssize_t w = AG_TLS_WANT_READ, r = AG_TLS_WANT_READ;
    int want_read = 0;
    char got[256];
    for (int i = 0; i < 200 && (w < 0 || r < 0); i++) {
        if (w < 0) {
            w = ag_tls_writev(cli, iov, 2);
            cr_assert(w > 0 || w == AG_TLS_WANT_READ || w == AG_TLS_WANT_WRITE, "%zd %s", w,
                      ag_tls_error(cli));
            want_read += w == AG_TLS_WANT_READ;
        }
        if (r < 0) {
            r = ag_tls_read(srv, got, sizeof(got));
            cr_assert(r > 0 || r == AG_TLS_WANT_READ || r == AG_TLS_WANT_WRITE, "%zd %s", r,
                      ag_tls_error(srv));
        }
        struct pollfd p[2] = {{.fd = sv[0], .events = POLLIN}, {.fd = sv[1], .events = POLLIN}};
        if (w < 0 || r < 0)
            (void)poll(p, 2, 20);
    }
    cr_assert_gt(want_read, 0, "writev never waited for the server's handshake messages");
    cr_assert_eq(w, (ssize_t)sizeof(req) - 1);
    cr_assert_eq(r, (ssize_t)sizeof(req) - 1);
    cr_assert_eq(memcmp(got, req, sizeof(req) - 1), 0);
    cr_assert(ag_tls_established(cli) && ag_tls_established(srv));
    ag_tls_free(srv);
    ag_tls_free(cli);
    close(sv[0]);
    close(sv[1]);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

/* After WANT_WRITE a caller may offer more than before (new data appended behind the refused
 * bytes); what was refused goes out first and nothing is duplicated or lost. */
Test(tls, retry_after_want_write_may_offer_more_bytes)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 8192);
    cr_assert(ag_tls_established(c.cli.t), "%s", ag_tls_error(c.cli.t));
    size_t len = 1u << 20;
    unsigned char *data = malloc(len), *got = malloc(len);
    cr_assert(data != NULL && got != NULL);
    tk_fill(data, len, 11);
    size_t sent = 0, recvd = 0, offer = 3000;
    int grown = 0;
    for (int i = 0; i < 100000 && recvd < len; i++) {
        if (sent < len) {
            size_t n = offer < len - sent ? offer : len - sent;
            /* Two iovecs, cut in the middle, so the coalescing path is used too. */
            struct iovec iov[2] = {{.iov_base = data + sent, .iov_len = n / 2},
                                   {.iov_base = data + sent + n / 2, .iov_len = n - n / 2}};
            ssize_t m = ag_tls_writev(c.cli.t, iov, 2);
            if (m == AG_TLS_WANT_WRITE) {
                offer = offer * 3 < 98304 ? offer * 3 : 98304; /* the retry offers more */
                grown++;
            } else {
                cr_assert_gt(m, 0, "%zd %s", m, ag_tls_error(c.cli.t));
                sent += (size_t)m;
                /* After a short count the rest stays offered (a record of it may be pending
                 * inside OpenSSL); after a complete write the caller is free again. */
                if ((size_t)m == n)
                    offer = 3000;
            }
        }
        if (i % 4 != 0 && sent < len)
            continue; /* a slow reader, so that the writer meets a full socket */
        ssize_t m = ag_tls_read(c.srv.t, got + recvd, len - recvd);
        if (m > 0)
            recvd += (size_t)m;
        else
            cr_assert_eq(m, AG_TLS_WANT_READ, "%s", ag_tls_error(c.srv.t));
    }
    cr_assert_eq(recvd, len);
    cr_assert_eq(memcmp(got, data, len), 0);
    cr_assert_gt(grown, 0, "the socket never filled up");
    free(data);
    free(got);
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

/* The caller's side of the contract: a retry that offers fewer bytes than the refused call is
 * a bug that OpenSSL reports as a fatal error (never silently sends something else). */
Test(tls, retry_with_fewer_bytes_is_a_fatal_error)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 8192);
    static unsigned char data[16384];
    tk_fill(data, sizeof(data), 5);
    struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
    ssize_t m = 0;
    for (int i = 0; i < 1000 && m != AG_TLS_WANT_WRITE; i++)
        m = ag_tls_writev(c.cli.t, &iov, 1);
    cr_assert_eq(m, AG_TLS_WANT_WRITE);
    iov.iov_len = 100;
    cr_assert_eq(ag_tls_writev(c.cli.t, &iov, 1), AG_TLS_ERROR);
    cr_log_info("%s", ag_tls_error(c.cli.t));
    cr_assert_str_eq(ag_tls_error(c.cli.t), "write failed: bad length");
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}
