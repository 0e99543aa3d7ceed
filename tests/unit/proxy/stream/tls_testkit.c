/* Shared by the proxy/tls tests: certificates made with the OpenSSL API in a temporary directory,
 * non-blocking socketpairs and small poll() pumps for handshakes and transfers. */
#include "tls_testkit.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static char g_dir[64];
char tk_ca[128], tk_srv_cert[128], tk_srv_key[128], tk_other_cert[128], tk_other_key[128];
char tk_garbage[128], tk_enc_key[128], tk_chain_cert[128], tk_chain_key[128];

/* ---- certificates ---- */

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    cr_assert_not_null(ext, "extension %d", nid);
    cr_assert_eq(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                       const char *san)
{
    static long serial = 1;
    X509 *x = X509_new();
    cr_assert_not_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    add_ext(x, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, &v3, NID_key_usage,
            ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    if (!ca)
        add_ext(x, &v3, NID_ext_key_usage, "serverAuth");
    if (san != NULL)
        add_ext(x, &v3, NID_subject_alt_name, san);
    cr_assert_gt(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()), 0);
    return x;
}

static void write_cert(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(PEM_write_X509(f, x), 1);
    fclose(f);
}

static void append_cert(const char *path, X509 *x)
{
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(PEM_write_X509(f, x), 1);
    fclose(f);
}

static void write_key(const char *path, EVP_PKEY *k, const char *pass)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    const EVP_CIPHER *c = pass != NULL ? EVP_aes_128_cbc() : NULL;
    cr_assert_eq(PEM_write_PrivateKey(f, k, c, (const unsigned char *)pass,
                                      pass != NULL ? (int)strlen(pass) : 0, NULL, NULL),
                 1);
    fclose(f);
}

static void path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
}

void tls_kit_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof(g_dir), "%s/agtlsXXXXXX",
             tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(g_dir));
    path(tk_ca, sizeof(tk_ca), "ca.pem");
    path(tk_srv_cert, sizeof(tk_srv_cert), "server.pem");
    path(tk_srv_key, sizeof(tk_srv_key), "server.key");
    path(tk_other_cert, sizeof(tk_other_cert), "other.pem");
    path(tk_other_key, sizeof(tk_other_key), "other.key");
    path(tk_garbage, sizeof(tk_garbage), "garbage.pem");
    path(tk_enc_key, sizeof(tk_enc_key), "enc.key");
    path(tk_chain_cert, sizeof(tk_chain_cert), "chain.pem");
    path(tk_chain_key, sizeof(tk_chain_key), "chain.key");

    EVP_PKEY *ca_key = EVP_EC_gen("P-256");
    EVP_PKEY *srv_key = EVP_EC_gen("P-256");
    EVP_PKEY *other_key = EVP_EC_gen("P-256");
    cr_assert(ca_key != NULL && srv_key != NULL && other_key != NULL);
    X509 *ca = make_cert(ca_key, "airgate test CA", NULL, NULL, true, NULL);
    X509 *srv =
        make_cert(srv_key, "localhost", ca, ca_key, false, "DNS:localhost,IP:127.0.0.1,IP:::1");
    X509 *other = make_cert(other_key, "localhost", NULL, NULL, false, "DNS:localhost");
    write_cert(tk_ca, ca);
    write_cert(tk_srv_cert, srv);
    write_key(tk_srv_key, srv_key, NULL);
    write_cert(tk_other_cert, other);
    write_key(tk_other_key, other_key, NULL);
    write_key(tk_enc_key, srv_key, "not-asked-for");
    /* A leaf issued by an intermediate; chain.pem holds both, the client trusts only ca.pem. */
    EVP_PKEY *inter_key = EVP_EC_gen("P-256");
    EVP_PKEY *leaf_key = EVP_EC_gen("P-256");
    cr_assert(inter_key != NULL && leaf_key != NULL);
    X509 *inter = make_cert(inter_key, "airgate test intermediate", ca, ca_key, true, NULL);
    X509 *leaf = make_cert(leaf_key, "localhost", inter, inter_key, false, "DNS:localhost");
    write_cert(tk_chain_cert, leaf);
    append_cert(tk_chain_cert, inter);
    write_key(tk_chain_key, leaf_key, NULL);
    X509_free(inter);
    X509_free(leaf);
    EVP_PKEY_free(inter_key);
    EVP_PKEY_free(leaf_key);
    FILE *f = fopen(tk_garbage, "w");
    cr_assert_not_null(f);
    fputs("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    X509_free(ca);
    X509_free(srv);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(other_key);
}

void tls_kit_teardown(void)
{
    if (g_dir[0] == '\0')
        return;
    DIR *d = opendir(g_dir); /* every file the setup or a test put there */
    if (d != NULL) {
        char p[384];
        for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", g_dir, e->d_name);
            (void)unlink(p);
        }
        closedir(d);
    }
    (void)rmdir(g_dir);
}

/* ---- sockets and pumps ---- */

void tk_sock_pair(int sv[2], int bufsize)
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(sv[i], F_GETFL);
        cr_assert_eq(fcntl(sv[i], F_SETFL, fl | O_NONBLOCK), 0);
        if (bufsize > 0) {
            setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
            setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
        }
    }
}

struct ag_tls_ctx *tk_server_ctx(const char *cert, const char *key)
{
    struct ag_tls_ctx *c = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_tls_server_ctx_new(cert, key, &c, &err), AG_OK, "%s", err.msg);
    return c;
}

struct ag_tls_ctx *tk_client_ctx(const char *ca)
{
    struct ag_tls_ctx *c = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_tls_client_ctx_new(ca, &c, &err), AG_OK, "%s", err.msg);
    return c;
}

bool tk_side_done(const struct tk_side *s)
{
    return s->last == 1 || s->last == AG_TLS_ERROR || s->last == AG_TLS_EOF;
}

void tk_side_step(struct tk_side *s)
{
    if (tk_side_done(s))
        return;
    if (s->t != NULL) {
        char b[64];
        ssize_t r = ag_tls_established(s->t) ? 1 : ag_tls_read(s->t, b, sizeof(b));
        if (r == AG_TLS_WANT_READ && ag_tls_established(s->t))
            r = 1;
        cr_assert(r <= 1, "no application data expected during the handshake");
        s->last = r;
        return;
    }
    int r = SSL_do_handshake(s->raw);
    if (r == 1) {
        s->last = 1;
        return;
    }
    int e = SSL_get_error(s->raw, r);
    s->last = e == SSL_ERROR_WANT_READ    ? AG_TLS_WANT_READ
              : e == SSL_ERROR_WANT_WRITE ? AG_TLS_WANT_WRITE
                                          : AG_TLS_ERROR;
    ERR_clear_error();
}

/* Runs the handshake until both sides finished or failed (bounded in rounds and time). */
void tk_pump_handshake(struct tk_side *a, struct tk_side *b)
{
    int after_fail = 0;
    for (int round = 0; round < 400; round++) {
        tk_side_step(a);
        tk_side_step(b);
        if (tk_side_done(a) && tk_side_done(b))
            return;
        if ((tk_side_done(a) && a->last != 1) || (tk_side_done(b) && b->last != 1)) {
            if (++after_fail > 20)
                return; /* the other side waits for bytes that will never come */
        }
        struct pollfd p[2] = {{.fd = a->fd}, {.fd = b->fd}};
        p[0].events = a->last == AG_TLS_WANT_WRITE ? POLLOUT : POLLIN;
        p[1].events = b->last == AG_TLS_WANT_WRITE ? POLLOUT : POLLIN;
        (void)poll(p, 2, 20);
    }
}

void tk_conn_open(struct tk_conn *c, struct ag_tls_ctx *sctx, struct ag_tls_ctx *cctx,
                  const char *host, int bufsize)
{
    memset(c, 0, sizeof(*c));
    tk_sock_pair(c->sv, bufsize);
    c->srv.fd = c->sv[0];
    c->cli.fd = c->sv[1];
    c->srv.t = ag_tls_accept(sctx, c->sv[0]);
    c->cli.t = ag_tls_connect(cctx, c->sv[1], host);
    cr_assert(c->srv.t != NULL && c->cli.t != NULL);
    c->srv.last = c->cli.last = AG_TLS_WANT_READ;
    tk_pump_handshake(&c->srv, &c->cli);
}

void tk_conn_close(struct tk_conn *c)
{
    ag_tls_free(c->srv.t);
    ag_tls_free(c->cli.t);
    close(c->sv[0]);
    close(c->sv[1]);
}

/* Sends len bytes, cut into iovecs of the given sizes (repeating), from w to r; reads them back
 * with reads of at most rchunk bytes; returns what arrived (caller frees). */
unsigned char *tk_transfer(struct ag_tls *w, int wfd, struct ag_tls *r, int rfd,
                           const unsigned char *data, size_t len, const size_t *cuts, int ncuts,
                           size_t rchunk, struct tk_xfer_stats *st)
{
    unsigned char *got = malloc(len);
    cr_assert_not_null(got);
    size_t sent = 0, recvd = 0;
    time_t deadline = time(NULL) + 30;
    while (recvd < len) {
        cr_assert(time(NULL) < deadline, "transfer stalled at %zu/%zu sent, %zu received", sent,
                  recvd, len);
        bool wait_w = false, wait_r = false;
        /* Write until WANT_WRITE, as an event loop does. Each call cuts the bytes into iovecs
         * at a different place in the cut pattern (a retry after WANT_* offers the same bytes,
         * not the same iovecs); 64 iovecs always span whole patterns, so a retry never offers
         * fewer bytes than the call that was refused. */
        while (sent < len) {
            struct iovec iov[64];
            int n = 0;
            size_t off = sent;
            unsigned rot = st->calls++;
            while (n < 64 && off < len) {
                size_t k = cuts[(n + rot) % (unsigned)ncuts];
                if (k > len - off)
                    k = len - off;
                iov[n].iov_base = (void *)(data + off);
                iov[n].iov_len = k;
                off += k;
                n++;
            }
            size_t offered = off - sent;
            ssize_t m = ag_tls_writev(w, iov, n);
            if (m == AG_TLS_WANT_WRITE) {
                st->want_write++;
                wait_w = true;
                break;
            }
            cr_assert_gt(m, 0, "writev: %zd (%s)", m, ag_tls_error(w));
            cr_assert_leq((size_t)m, offered);
            if ((size_t)m < offered)
                st->short_writes++;
            sent += (size_t)m;
        }
        for (;;) {
            size_t want = len - recvd < rchunk ? len - recvd : rchunk;
            if (want == 0)
                break;
            ssize_t m = ag_tls_read(r, got + recvd, want);
            if (m == AG_TLS_WANT_READ) {
                wait_r = true;
                break;
            }
            cr_assert_gt(m, 0, "read: %zd (%s)", m, ag_tls_error(r));
            st->reads++;
            recvd += (size_t)m;
        }
        /* Neither side can move: wait for the socket. */
        if (wait_r) {
            struct pollfd p[2] = {{.fd = wfd, .events = wait_w ? POLLOUT : 0},
                                  {.fd = rfd, .events = POLLIN}};
            (void)poll(p, 2, 20);
        }
    }
    return got;
}

void tk_fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131u + seed + (i >> 12)) & 0xff);
}

void tk_echo(struct tk_conn *c, const char *msg)
{
    size_t n = strlen(msg);
    size_t cut = n;
    struct tk_xfer_stats st = {0};
    unsigned char *a = tk_transfer(c->cli.t, c->cli.fd, c->srv.t, c->srv.fd,
                                   (const unsigned char *)msg, n, &cut, 1, 4096, &st);
    cr_assert_eq(memcmp(a, msg, n), 0);
    unsigned char *b =
        tk_transfer(c->srv.t, c->srv.fd, c->cli.t, c->cli.fd, a, n, &cut, 1, 4096, &st);
    cr_assert_eq(memcmp(b, msg, n), 0);
    free(a);
    free(b);
}

void tk_raw_open(struct tk_conn *c, struct ag_tls_ctx *sctx, SSL_CTX *raw)
{
    memset(c, 0, sizeof(*c));
    tk_sock_pair(c->sv, 0);
    c->srv.t = ag_tls_accept(sctx, c->sv[0]);
    c->srv.fd = c->sv[0];
    c->cli.raw = SSL_new(raw);
    cr_assert(c->srv.t != NULL && c->cli.raw != NULL);
    cr_assert_eq(SSL_set_fd(c->cli.raw, c->sv[1]), 1);
    SSL_set_connect_state(c->cli.raw);
    c->cli.fd = c->sv[1];
    c->srv.last = c->cli.last = AG_TLS_WANT_READ;
    tk_pump_handshake(&c->srv, &c->cli);
}

void tk_raw_close(struct tk_conn *c)
{
    SSL_free(c->cli.raw);
    ag_tls_free(c->srv.t);
    close(c->sv[0]);
    close(c->sv[1]);
}
