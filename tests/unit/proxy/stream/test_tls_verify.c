/* proxy/tls: certificate verification, refused peers, closes, configuration errors, context
 * reference counting and the per-thread OpenSSL error queue. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proxy/stream/tls.h"
#include "tls_testkit.h"

TestSuite(tls_verify, .init = tls_kit_setup, .fini = tls_kit_teardown, .timeout = 60);

/* A client that must fail verification: the client reports why, the server does not finish. */
static void expect_client_rejects(const char *cert, const char *key, const char *ca,
                                  const char *host, const char *const *needles)
{
    struct ag_tls_ctx *s = tk_server_ctx(cert, key), *k = tk_client_ctx(ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, host, 0);
    cr_assert_eq(c.cli.last, AG_TLS_ERROR, "client result %zd", c.cli.last);
    cr_assert_not(ag_tls_established(c.cli.t));
    cr_assert_not(ag_tls_established(c.srv.t));
    const char *why = ag_tls_error(c.cli.t);
    cr_log_info("client: %s | server: %s", why, ag_tls_error(c.srv.t));
    for (int i = 0; needles[i] != NULL; i++)
        cr_assert(strstr(why, needles[i]) != NULL, "'%s' lacks '%s'", why, needles[i]);
    /* Sticky: the connection stays failed. */
    char b[8];
    cr_assert_eq(ag_tls_read(c.cli.t, b, sizeof(b)), AG_TLS_ERROR);
    cr_assert_eq(ERR_peek_error(), 0ul, "the failure left errors in the thread's queue");
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

static void expect_client_accepts(const char *host)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, host, 0);
    cr_assert(ag_tls_established(c.cli.t), "%s: %s", host, ag_tls_error(c.cli.t));
    cr_assert(ag_tls_established(c.srv.t), "%s: %s", host, ag_tls_error(c.srv.t));
    tk_echo(&c, "verified");
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

Test(tls_verify, good_certificate_by_name)
{
    expect_client_accepts("localhost");
}

Test(tls_verify, good_certificate_by_ip_literal)
{
    expect_client_accepts("127.0.0.1");
    expect_client_accepts("::1");
    expect_client_accepts("[::1]");
}

Test(tls_verify, wrong_host_name_is_refused_and_named)
{
    const char *n[] = {"certificate verify failed", "hostname mismatch", "wrong.example", NULL};
    expect_client_rejects(tk_srv_cert, tk_srv_key, tk_ca, "wrong.example", n);
}

Test(tls_verify, wrong_ip_is_refused)
{
    const char *n[] = {"certificate verify failed", "IP address mismatch", "127.0.0.2", NULL};
    expect_client_rejects(tk_srv_cert, tk_srv_key, tk_ca, "127.0.0.2", n);
}

Test(tls_verify, untrusted_self_signed_certificate_is_refused)
{
    const char *n[] = {"certificate verify failed", "self-signed", NULL};
    expect_client_rejects(tk_other_cert, tk_other_key, tk_ca, "localhost", n);
}

Test(tls_verify, system_store_does_not_trust_a_private_ca)
{
    const char *n[] = {"certificate verify failed", "local issuer", NULL};
    expect_client_rejects(tk_srv_cert, tk_srv_key, NULL, "localhost", n);
}

Test(tls_verify, empty_host_name_fails_on_first_use)
{
    struct ag_tls_ctx *k = tk_client_ctx(tk_ca);
    int sv[2];
    tk_sock_pair(sv, 0);
    struct ag_tls *t = ag_tls_connect(k, sv[1], "");
    cr_assert_not_null(t);
    char b[4];
    cr_assert_eq(ag_tls_read(t, b, sizeof(b)), AG_TLS_ERROR);
    struct iovec v = {.iov_base = b, .iov_len = 1};
    cr_assert_eq(ag_tls_writev(t, &v, 1), AG_TLS_ERROR);
    cr_assert(strstr(ag_tls_error(t), "host name") != NULL, "%s", ag_tls_error(t));
    ag_tls_free(t);
    close(sv[0]);
    close(sv[1]);
    ag_tls_ctx_unref(k);
}

Test(tls_verify, tls11_client_is_refused)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key);
    SSL_CTX *old = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(old);
    /* Security level 0 so that this client really offers TLS 1.1 on the wire. */
    SSL_CTX_set_security_level(old, 0);
    cr_assert_eq(SSL_CTX_set_cipher_list(old, "DEFAULT:@SECLEVEL=0"), 1);
    SSL_CTX_set_min_proto_version(old, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
    struct tk_conn c;
    tk_raw_open(&c, s, old);
    cr_assert_eq(c.srv.last, AG_TLS_ERROR);
    cr_assert_eq(c.cli.last, AG_TLS_ERROR);
    cr_log_info("server: %s", ag_tls_error(c.srv.t));
    cr_assert(strstr(ag_tls_error(c.srv.t), "handshake failed") != NULL &&
                  strstr(ag_tls_error(c.srv.t), "protocol") != NULL,
              "%s", ag_tls_error(c.srv.t));
    tk_raw_close(&c);
    SSL_CTX_free(old);
    ag_tls_ctx_unref(s);
}

/* Bytes that are not TLS sent to the server: an error with a reason, never a crash. */
static void expect_server_rejects_bytes(const char *bytes, size_t n, const char *needle)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key);
    int sv[2];
    tk_sock_pair(sv, 0);
    struct ag_tls *t = ag_tls_accept(s, sv[0]);
    cr_assert_not_null(t);
    cr_assert_eq(write(sv[1], bytes, n), (ssize_t)n);
    char b[64];
    ssize_t r = AG_TLS_WANT_READ;
    for (int i = 0; i < 100 && r == AG_TLS_WANT_READ; i++) {
        r = ag_tls_read(t, b, sizeof(b));
        if (r == AG_TLS_WANT_READ)
            (void)poll(&(struct pollfd){.fd = sv[0], .events = POLLIN}, 1, 20);
    }
    cr_assert_eq(r, AG_TLS_ERROR);
    cr_log_info("server: %s", ag_tls_error(t));
    cr_assert(strstr(ag_tls_error(t), needle) != NULL, "'%s' lacks '%s'", ag_tls_error(t), needle);
    cr_assert_not(ag_tls_established(t));
    ag_tls_free(t);
    close(sv[0]);
    close(sv[1]);
    ag_tls_ctx_unref(s);
}

Test(tls_verify, plaintext_http_to_the_tls_server_is_an_error)
{
    const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    expect_server_rejects_bytes(req, sizeof(req) - 1, "http request");
    const char junk[] = "\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff";
    expect_server_rejects_bytes(junk, sizeof(junk) - 1, "handshake failed");
}

Test(tls_verify, peer_closing_without_close_notify_is_eof)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 0);
    tk_echo(&c, "before the close");
    cr_assert_eq(shutdown(c.sv[1], SHUT_WR), 0); /* TCP-level close, no TLS alert */
    char b[32];
    ssize_t r = AG_TLS_WANT_READ;
    for (int i = 0; i < 100 && r == AG_TLS_WANT_READ; i++) {
        r = ag_tls_read(c.srv.t, b, sizeof(b));
        if (r == AG_TLS_WANT_READ)
            (void)poll(&(struct pollfd){.fd = c.sv[0], .events = POLLIN}, 1, 20);
    }
    cr_assert_eq(r, AG_TLS_EOF);
    cr_assert(strstr(ag_tls_error(c.srv.t), "close_notify") != NULL, "%s", ag_tls_error(c.srv.t));
    cr_assert_eq(ag_tls_read(c.srv.t, b, sizeof(b)), AG_TLS_ERROR, "no reads after the close");
    tk_conn_close(&c); /* the client's close_notify hits a shut socket: no crash */
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

Test(tls_verify, close_notify_is_eof_and_free_keeps_the_descriptor)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn c;
    tk_conn_open(&c, s, k, "localhost", 0);
    tk_echo(&c, "hello");
    ag_tls_free(c.cli.t);
    c.cli.t = NULL;
    char b[32];
    ssize_t r = AG_TLS_WANT_READ;
    for (int i = 0; i < 100 && r == AG_TLS_WANT_READ; i++) {
        r = ag_tls_read(c.srv.t, b, sizeof(b));
        if (r == AG_TLS_WANT_READ)
            (void)poll(&(struct pollfd){.fd = c.sv[0], .events = POLLIN}, 1, 20);
    }
    cr_assert_eq(r, AG_TLS_EOF, "%zd %s", r, ag_tls_error(c.srv.t));
    cr_assert_eq(ag_tls_read(c.srv.t, b, sizeof(b)), AG_TLS_EOF);
    /* The client's descriptor is still open: ag_tls_free did not close it. */
    cr_assert_eq(write(c.sv[1], "x", 1), 1);
    tk_conn_close(&c);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

/* ---- configuration errors ---- */

static void expect_conf_error(const char *cert, const char *key, const char *needle)
{
    static char sentinel;
    struct ag_tls_ctx *c = (struct ag_tls_ctx *)(void *)&sentinel; /* must be reset to NULL */
    struct ag_err err = {0};
    cr_assert_eq(ag_tls_server_ctx_new(cert, key, &c, &err), AG_ECONF);
    cr_assert_null(c);
    cr_assert_eq(err.rc, AG_ECONF);
    cr_log_info("%s", err.msg);
    cr_assert(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'", err.msg, needle);
    cr_assert_eq(ERR_peek_error(), 0ul);
}

Test(tls_verify, missing_certificate_file_is_named)
{
    expect_conf_error("/nonexistent/cert.pem", tk_srv_key, "/nonexistent/cert.pem");
    expect_conf_error("/nonexistent/cert.pem", tk_srv_key, "No such file or directory");
    expect_conf_error(NULL, tk_srv_key, "tls.cert_file");
}

Test(tls_verify, missing_key_file_is_named)
{
    expect_conf_error(tk_srv_cert, "/nonexistent/key.pem", "tls.key_file '/nonexistent/key.pem'");
    expect_conf_error(tk_srv_cert, "/nonexistent/key.pem", "No such file or directory");
    expect_conf_error(tk_srv_cert, "", "tls.key_file");
}

Test(tls_verify, key_that_does_not_match_the_certificate)
{
    expect_conf_error(tk_srv_cert, tk_other_key, "does not match");
    expect_conf_error(tk_srv_cert, tk_other_key, tk_other_key);
}

Test(tls_verify, garbage_pem_is_named)
{
    expect_conf_error(tk_garbage, tk_srv_key, tk_garbage);
    expect_conf_error(tk_srv_cert, tk_garbage, tk_garbage);
    expect_conf_error(tk_srv_key, tk_srv_key, "tls.cert_file"); /* a key where a cert belongs */
}

Test(tls_verify, encrypted_key_fails_without_prompting)
{
    expect_conf_error(tk_srv_cert, tk_enc_key, tk_enc_key);
    expect_conf_error(tk_srv_cert, tk_enc_key, "encrypted with a passphrase");
}

Test(tls_verify, bad_ca_file_is_named)
{
    struct ag_tls_ctx *c = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_tls_client_ctx_new("/nonexistent/ca.pem", &c, &err), AG_ECONF);
    cr_assert_null(c);
    cr_assert(strstr(err.msg, "/nonexistent/ca.pem") != NULL, "%s", err.msg);
    cr_assert_eq(ag_tls_client_ctx_new(tk_garbage, &c, &err), AG_ECONF);
    cr_assert(strstr(err.msg, tk_garbage) != NULL, "%s", err.msg);
}

/* ---- lifetimes and the error queue ---- */

Test(tls_verify, ctx_unref_while_a_connection_lives)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    cr_assert_eq(ag_tls_ctx_ref(s), s);
    ag_tls_ctx_unref(s); /* back to one reference */
    int sv[2];
    tk_sock_pair(sv, 0);
    struct tk_conn c;
    memset(&c, 0, sizeof(c));
    c.sv[0] = sv[0];
    c.sv[1] = sv[1];
    c.srv = (struct tk_side){.t = ag_tls_accept(s, sv[0]), .fd = sv[0], .last = AG_TLS_WANT_READ};
    c.cli = (struct tk_side){
        .t = ag_tls_connect(k, sv[1], "localhost"), .fd = sv[1], .last = AG_TLS_WANT_READ};
    ag_tls_ctx_unref(s); /* the last reference the caller had */
    ag_tls_ctx_unref(k);
    ag_tls_ctx_unref(NULL);
    tk_pump_handshake(&c.srv, &c.cli);
    cr_assert(ag_tls_established(c.srv.t) && ag_tls_established(c.cli.t), "%s / %s",
              ag_tls_error(c.srv.t), ag_tls_error(c.cli.t));
    tk_echo(&c, "still works without the caller's context references");
    tk_conn_close(&c);
}

Test(tls_verify, no_stale_errors_between_connections_on_a_thread)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key), *k = tk_client_ctx(tk_ca);
    struct tk_conn bad;
    tk_conn_open(&bad, s, k, "wrong.example", 0);
    cr_assert_eq(bad.cli.last, AG_TLS_ERROR);
    tk_conn_close(&bad);
    cr_assert_eq(ERR_peek_error(), 0ul);
    /* Someone else on this thread left an error behind: it must not fail the next connection
     * (SSL_get_error would report SSL_ERROR_SSL for a plain WANT_READ). */
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
    struct tk_conn good;
    tk_conn_open(&good, s, k, "localhost", 0);
    cr_assert(ag_tls_established(good.cli.t), "%s", ag_tls_error(good.cli.t));
    cr_assert_str_empty(ag_tls_error(good.cli.t));
    cr_assert_str_empty(ag_tls_error(good.srv.t));
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
    tk_echo(&good, "no stale error");
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
    char b[4];
    cr_assert_eq(ag_tls_read(good.srv.t, b, sizeof(b)), AG_TLS_WANT_READ);
    tk_conn_close(&good);
    ag_tls_ctx_unref(s);
    ag_tls_ctx_unref(k);
}

Test(tls_verify, edge_arguments)
{
    ag_tls_free(NULL);
    cr_assert_null(ag_tls_ctx_ref(NULL));
    cr_assert_null(ag_tls_accept(NULL, 0));
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key);
    cr_assert_null(ag_tls_accept(s, -1));
    int sv[2];
    tk_sock_pair(sv, 0);
    struct ag_tls *t = ag_tls_accept(s, sv[0]);
    cr_assert_not_null(t);
    cr_assert_str_empty(ag_tls_error(t));
    cr_assert_not(ag_tls_established(t));
    cr_assert_not(ag_tls_pending(t));
    char b[4];
    cr_assert_eq(ag_tls_read(t, b, sizeof(b)), AG_TLS_WANT_READ);
    cr_assert_eq(ag_tls_read(t, b, 0), AG_TLS_ERROR);
    cr_assert_str_not_empty(ag_tls_error(t));
    ag_tls_free(t); /* before the handshake: nothing sent, descriptor left open */
    cr_assert_eq(write(sv[0], "x", 1), 1);
    close(sv[0]);
    close(sv[1]);
    ag_tls_ctx_unref(s);
}

/* Port probes and clients that give up mid-handshake: EOF (not an error worth a log line), and
 * the text says where it happened. */
static void expect_eof_in_handshake(const char *bytes, size_t n)
{
    struct ag_tls_ctx *s = tk_server_ctx(tk_srv_cert, tk_srv_key);
    int sv[2];
    tk_sock_pair(sv, 0);
    struct ag_tls *t = ag_tls_accept(s, sv[0]);
    cr_assert_not_null(t);
    if (n > 0)
        cr_assert_eq(write(sv[1], bytes, n), (ssize_t)n);
    cr_assert_eq(shutdown(sv[1], SHUT_WR), 0);
    char b[16];
    ssize_t r = AG_TLS_WANT_READ;
    for (int i = 0; i < 100 && r == AG_TLS_WANT_READ; i++) {
        r = ag_tls_read(t, b, sizeof(b));
        if (r == AG_TLS_WANT_READ)
            (void)poll(&(struct pollfd){.fd = sv[0], .events = POLLIN}, 1, 20);
    }
    cr_assert_eq(r, AG_TLS_EOF, "%zd %s", r, ag_tls_error(t));
    cr_assert_str_eq(ag_tls_error(t), "handshake failed: peer closed the connection");
    cr_assert_not(ag_tls_established(t));
    ag_tls_free(t);
    close(sv[0]);
    close(sv[1]);
    ag_tls_ctx_unref(s);
}

Test(tls_verify, close_during_the_handshake_is_eof)
{
    expect_eof_in_handshake("", 0);
    /* The first bytes of a ClientHello record header and body, then nothing. */
    expect_eof_in_handshake("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
}
