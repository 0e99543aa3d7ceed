/* TLS over non-blocking sockets with OpenSSL 3. An ag_tls_ctx is an SSL_CTX behind the opaque
 * type (OpenSSL's own reference count). A connection is an SSL plus a short error text: every
 * SSL_* call starts with an empty error queue so a failure on one connection never shows up as
 * the reason for another one on the same thread, and the queue is emptied again after a failure
 * has been turned into text.
 *
 * Writes: OpenSSL has no writev, and a write that returned WANT_* must be repeated with at least
 * as many bytes (the same ones at the front; the buffer may move because of
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). ag_tls_writev therefore hands OpenSSL one record's worth
 * (16 KiB) at a time, copied together when it spans iovecs: a record left pending by WANT_* is
 * never longer than what the caller's retry offers, whatever way the caller cuts it into iovecs. */
#include "proxy/stream/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define AG_TLS_CHUNK 16384 /* TLS maximum plaintext per record */

/* TLS 1.2: forward secrecy and AEAD only (TLS 1.3 suites are all AEAD and keep their defaults). */
static const char ag_tls_ciphers12[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                       "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                       "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

enum ag_tls_state {
    AG_TLS_OPEN = 0,
    AG_TLS_FAILED, /* fatal error: no more SSL_* I/O, not even SSL_shutdown */
    AG_TLS_CLOSED, /* close_notify received */
};

struct ag_tls {
    SSL *ssl;
    unsigned char state; /* enum ag_tls_state */
    unsigned char up;    /* the handshake was seen finished (a fatal error resets OpenSSL's view) */
    char err[118];
};

static SSL_CTX *ag_tls_sslctx(struct ag_tls_ctx *c)
{
    return (SSL_CTX *)(void *)c;
}

/* The most specific reason in the queue: the first error raised (the root cause; later ones are
 * "PEM lib"/"system lib" wrappers). */
static void ag_tls_reason(char *out, size_t n)
{
    unsigned long e = ERR_peek_error();
    if (e == 0) {
        snprintf(out, n, "unknown error");
        return;
    }
    const char *r = ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e)) : ERR_reason_error_string(e);
    if (r != NULL)
        snprintf(out, n, "%s", r);
    else
        ERR_error_string_n(e, out, n);
}

/* Never prompt on the terminal for an encrypted key; note that one was asked for (u: bool). */
static int ag_tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    if (u != NULL)
        *(bool *)u = true;
    return -1;
}

static void ag_tls_ctx_common(SSL_CTX *ctx)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    /* RELEASE_BUFFERS: an idle keep-alive connection holds no 2 x 16 KiB record buffers.
     * AUTO_RETRY (OpenSSL 3's default, set for clarity): after a non-application record (a TLS 1.3
     * session ticket or key update) SSL_read reads on, so WANT_READ always means the socket
     * said EAGAIN, which edge-triggered epoll needs. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS | SSL_MODE_AUTO_RETRY);
    SSL_CTX_set_default_passwd_cb(ctx, ag_tls_no_passphrase);
}

enum ag_rc ag_tls_server_ctx_new(const char *cert_file, const char *key_file,
                                 struct ag_tls_ctx **out, struct ag_err *err)
{
    char why[160];
    enum ag_rc rc = AG_OK;
    *out = NULL;
    if (cert_file == NULL || cert_file[0] == '\0' || key_file == NULL || key_file[0] == '\0')
        return ag_err_set(err, AG_ECONF, "tls: both tls.cert_file and tls.key_file are needed");
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ag_tls_reason(why, sizeof(why));
        rc = ag_err_set(err, AG_ECONF, "tls: cannot create a server context: %s", why);
        goto out;
    }
    ag_tls_ctx_common(ctx);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, ag_tls_ciphers12) != 1) {
        ag_tls_reason(why, sizeof(why));
        rc = ag_err_set(err, AG_ECONF, "tls: cipher list rejected: %s", why);
        goto out;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        ag_tls_reason(why, sizeof(why));
        rc =
            ag_err_set(err, AG_ECONF, "tls.cert_file '%s': cannot load a PEM certificate chain: %s",
                       cert_file, why);
        goto out;
    }
    ERR_clear_error();
    bool encrypted = false;
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &encrypted);
    int loaded = SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    if (loaded != 1) {
        unsigned long e = ERR_peek_error();
        ag_tls_reason(why, sizeof(why));
        if (encrypted)
            rc = ag_err_set(err, AG_ECONF,
                            "tls.key_file '%s' is encrypted with a passphrase; airgate needs an "
                            "unencrypted key (protect it with file permissions)",
                            key_file);
        else if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            rc = ag_err_set(err, AG_ECONF, "tls.key_file '%s' does not match tls.cert_file '%s'",
                            key_file, cert_file);
        else
            rc = ag_err_set(err, AG_ECONF, "tls.key_file '%s': cannot load a PEM private key: %s",
                            key_file, why);
        goto out;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ag_tls_reason(why, sizeof(why));
        rc = ag_err_set(err, AG_ECONF, "tls.key_file '%s' does not match tls.cert_file '%s': %s",
                        key_file, cert_file, why);
        goto out;
    }
    *out = (struct ag_tls_ctx *)(void *)ctx;
    ctx = NULL;
out:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

enum ag_rc ag_tls_client_ctx_new(const char *ca_file, struct ag_tls_ctx **out, struct ag_err *err)
{
    char why[160];
    enum ag_rc rc = AG_OK;
    *out = NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ag_tls_reason(why, sizeof(why));
        rc = ag_err_set(err, AG_ECONF, "tls: cannot create a client context: %s", why);
        goto out;
    }
    ag_tls_ctx_common(ctx);
    if (SSL_CTX_set_cipher_list(ctx, ag_tls_ciphers12) != 1) {
        ag_tls_reason(why, sizeof(why));
        rc = ag_err_set(err, AG_ECONF, "tls: cipher list rejected: %s", why);
        goto out;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file != NULL && ca_file[0] != '\0') {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            ag_tls_reason(why, sizeof(why));
            rc =
                ag_err_set(err, AG_ECONF, "upstreams.ca_file '%s': cannot load CA certificates: %s",
                           ca_file, why);
            goto out;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        ag_tls_reason(why, sizeof(why));
        rc = ag_err_set(err, AG_ECONF, "tls: cannot load the system CA store: %s", why);
        goto out;
    }
    *out = (struct ag_tls_ctx *)(void *)ctx;
    ctx = NULL;
out:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

struct ag_tls_ctx *ag_tls_ctx_ref(struct ag_tls_ctx *c)
{
    if (c != NULL)
        SSL_CTX_up_ref(ag_tls_sslctx(c));
    return c;
}

void ag_tls_ctx_unref(struct ag_tls_ctx *c)
{
    if (c != NULL)
        SSL_CTX_free(ag_tls_sslctx(c)); /* an SSL holds its own reference to its SSL_CTX */
}

static struct ag_tls *ag_tls_new(struct ag_tls_ctx *c, int fd)
{
    if (c == NULL || fd < 0)
        return NULL;
    struct ag_tls *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    ERR_clear_error();
    t->ssl = SSL_new(ag_tls_sslctx(c));
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    return t;
}

struct ag_tls *ag_tls_accept(struct ag_tls_ctx *c, int fd)
{
    struct ag_tls *t = ag_tls_new(c, fd);
    if (t != NULL)
        SSL_set_accept_state(t->ssl);
    return t;
}

/* A connection that must not be used: the first read or write reports why. */
static void ag_tls_poison(struct ag_tls *t, const char *why, const char *host)
{
    t->state = AG_TLS_FAILED;
    snprintf(t->err, sizeof(t->err), "%s%s%s", why, host != NULL ? ": " : "",
             host != NULL ? host : "");
}

struct ag_tls *ag_tls_connect(struct ag_tls_ctx *c, int fd, const char *host)
{
    struct ag_tls *t = ag_tls_new(c, fd);
    if (t == NULL)
        return NULL;
    SSL_set_connect_state(t->ssl);
    if (host == NULL || host[0] == '\0') {
        ag_tls_poison(t, "no host name to verify the certificate against", NULL);
        return t;
    }
    /* "[::1]" as it appears in URLs. */
    char ip[INET6_ADDRSTRLEN];
    size_t len = strlen(host);
    const char *name = host;
    if (host[0] == '[' && len > 2 && host[len - 1] == ']' && len - 2 < sizeof(ip)) {
        memcpy(ip, host + 1, len - 2);
        ip[len - 2] = '\0';
        name = ip;
    }
    unsigned char bin[16];
    bool is_ip = inet_pton(AF_INET, name, bin) == 1 || inet_pton(AF_INET6, name, bin) == 1;
    int ok;
    if (is_ip) {
        /* No SNI for addresses (RFC 6066 section 3); the certificate must carry the IP SAN. */
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name);
    } else {
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set_tlsext_host_name(t->ssl, name) == 1 && SSL_set1_host(t->ssl, name) == 1;
    }
    if (ok != 1)
        ag_tls_poison(t, "cannot use this host name for TLS", host);
    ERR_clear_error();
    return t;
}

static void ag_tls_eof_text(struct ag_tls *t)
{
    snprintf(t->err, sizeof(t->err), "%s",
             t->up ? "peer closed the connection without close_notify"
                   : "handshake failed: peer closed the connection");
}

/* Turns a failed SSL_read/SSL_write into a result code and, for failures, a text. */
static ssize_t ag_tls_result(struct ag_tls *t, int ret, int saved_errno, bool reading,
                             const char *op)
{
    int e = SSL_get_error(t->ssl, ret);
    if (SSL_is_init_finished(t->ssl))
        t->up = 1;
    const char *phase = t->up ? op : "handshake failed";
    char why[96];
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return AG_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return AG_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        t->state = AG_TLS_CLOSED;
        snprintf(t->err, sizeof(t->err), "peer sent close_notify");
        return reading ? AG_TLS_EOF : AG_TLS_ERROR;
    case SSL_ERROR_SYSCALL:
        t->state = AG_TLS_FAILED;
        if (ERR_peek_error() == 0 && saved_errno == 0) {
            ag_tls_eof_text(t);
            ERR_clear_error();
            return reading ? AG_TLS_EOF : AG_TLS_ERROR;
        }
        if (ERR_peek_error() != 0)
            ag_tls_reason(why, sizeof(why));
        else
            snprintf(why, sizeof(why), "%s", strerror(saved_errno));
        snprintf(t->err, sizeof(t->err), "%s: %s", phase, why);
        ERR_clear_error();
        return AG_TLS_ERROR;
    case SSL_ERROR_SSL: {
        unsigned long q = ERR_peek_error();
        t->state = AG_TLS_FAILED;
        if (ERR_GET_LIB(q) == ERR_LIB_SSL &&
            ERR_GET_REASON(q) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ag_tls_eof_text(t);
            ERR_clear_error();
            return reading ? AG_TLS_EOF : AG_TLS_ERROR;
        }
        if (ERR_GET_LIB(q) == ERR_LIB_SSL && ERR_GET_REASON(q) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            long v = SSL_get_verify_result(t->ssl);
            X509_VERIFY_PARAM *p = SSL_get0_param(t->ssl);
            const char *host = X509_VERIFY_PARAM_get0_host(p, 0);
            char *ip =
                v == X509_V_ERR_IP_ADDRESS_MISMATCH ? X509_VERIFY_PARAM_get1_ip_asc(p) : NULL;
            const char *expected = v == X509_V_ERR_HOSTNAME_MISMATCH ? host : ip;
            snprintf(t->err, sizeof(t->err), "certificate verify failed: %s%s%s%s",
                     X509_verify_cert_error_string(v), expected != NULL ? " (expected " : "",
                     expected != NULL ? expected : "", expected != NULL ? ")" : "");
            OPENSSL_free(ip);
        } else {
            ag_tls_reason(why, sizeof(why));
            snprintf(t->err, sizeof(t->err), "%s: %s", phase, why);
        }
        ERR_clear_error();
        return AG_TLS_ERROR;
    }
    default:
        t->state = AG_TLS_FAILED;
        snprintf(t->err, sizeof(t->err), "%s: unexpected OpenSSL result %d", phase, e);
        ERR_clear_error();
        return AG_TLS_ERROR;
    }
}

ssize_t ag_tls_read(struct ag_tls *t, void *buf, size_t n)
{
    if (t->state == AG_TLS_FAILED)
        return AG_TLS_ERROR;
    if (t->state == AG_TLS_CLOSED)
        return AG_TLS_EOF;
    if (n == 0) {
        snprintf(t->err, sizeof(t->err), "read into an empty buffer");
        return AG_TLS_ERROR;
    }
    if (n > INT_MAX)
        n = INT_MAX;
    size_t got = 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_read_ex(t->ssl, buf, n, &got);
    if (ret == 1) {
        t->up = 1;
        return (ssize_t)got;
    }
    return ag_tls_result(t, ret, errno, true, "read failed");
}

/* One SSL_write of at most one record. Returns bytes written (all of len) or a negative code. */
static ssize_t ag_tls_write1(struct ag_tls *t, const void *p, size_t len)
{
    size_t done = 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_write_ex(t->ssl, p, len, &done);
    if (ret == 1) {
        t->up = 1;
        return (ssize_t)done;
    }
    return ag_tls_result(t, ret, errno, false, "write failed");
}

ssize_t ag_tls_writev(struct ag_tls *t, const struct iovec *iov, int n)
{
    if (t->state != AG_TLS_OPEN) {
        if (t->state == AG_TLS_CLOSED)
            snprintf(t->err, sizeof(t->err), "write after the peer sent close_notify");
        return AG_TLS_ERROR;
    }
    unsigned char chunk[AG_TLS_CHUNK];
    size_t total = 0;
    int i = 0;
    size_t off = 0; /* into iov[i] */
    for (;;) {
        while (i < n && off >= iov[i].iov_len) {
            i++;
            off = 0;
        }
        if (i >= n || total > (size_t)SSIZE_MAX - AG_TLS_CHUNK)
            break;
        const void *p;
        size_t len;
        if (iov[i].iov_len - off >= AG_TLS_CHUNK) {
            /* A whole record inside one iovec: no copy. */
            p = (const unsigned char *)iov[i].iov_base + off;
            len = AG_TLS_CHUNK;
        } else {
            /* Gather up to one record from this and the following iovecs. */
            len = 0;
            int j = i;
            size_t o = off;
            while (j < n && len < AG_TLS_CHUNK) {
                size_t take = iov[j].iov_len - o;
                if (take > AG_TLS_CHUNK - len)
                    take = AG_TLS_CHUNK - len;
                if (take > 0)
                    memcpy(chunk + len, (const unsigned char *)iov[j].iov_base + o, take);
                len += take;
                j++;
                o = 0;
            }
            p = chunk;
        }
        ssize_t w = ag_tls_write1(t, p, len);
        if (w < 0)
            return total > 0 && w != AG_TLS_ERROR ? (ssize_t)total : w;
        total += (size_t)w;
        /* Advance over w bytes of the iovecs. */
        size_t adv = (size_t)w;
        while (adv > 0 && i < n) {
            size_t left = iov[i].iov_len - off;
            if (adv < left) {
                off += adv;
                adv = 0;
            } else {
                adv -= left;
                i++;
                off = 0;
            }
        }
        if ((size_t)w < len)
            break; /* short write: report what went */
    }
    return (ssize_t)total;
}

bool ag_tls_pending(const struct ag_tls *t)
{
    return t->state == AG_TLS_OPEN && SSL_pending(t->ssl) > 0;
}

bool ag_tls_established(const struct ag_tls *t)
{
    return t->state != AG_TLS_FAILED && SSL_is_init_finished(t->ssl);
}

const char *ag_tls_error(const struct ag_tls *t)
{
    return t->err;
}

void ag_tls_free(struct ag_tls *t)
{
    if (t == NULL)
        return;
    /* After a fatal error OpenSSL forbids SSL_shutdown; before the handshake there is nothing to
     * close. One non-blocking attempt: close_notify goes out if the socket takes it. */
    if (t->state != AG_TLS_FAILED && SSL_is_init_finished(t->ssl)) {
        ERR_clear_error();
        (void)SSL_shutdown(t->ssl);
    }
    SSL_free(t->ssl);
    ERR_clear_error();
    free(t);
}

ssize_t ag_io_read(int fd, struct ag_tls *tls, uint8_t *want, void *b, size_t n)
{
    if (tls) {
        ssize_t k = ag_tls_read(tls, b, n);
        *want &= (uint8_t) ~(AG_WANT_READ | AG_WANT_WRITE);
        if (k == AG_TLS_WANT_READ || k == AG_TLS_WANT_WRITE) {
            *want |= k == AG_TLS_WANT_WRITE ? AG_WANT_WRITE : AG_WANT_READ;
            return -AG_EAGAIN;
        }
        return k < 0 ? -AG_EIO : k;
    }
    ssize_t k = recv(fd, b, n, 0);
    if (k < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -AG_EAGAIN : -AG_EIO;
    return k;
}

ssize_t ag_io_writev(int fd, struct ag_tls *tls, uint8_t *want, const struct iovec *v, int n)
{
    if (tls) {
        ssize_t k = ag_tls_writev(tls, v, n);
        if (k == AG_TLS_WANT_READ || k == AG_TLS_WANT_WRITE) {
            *want |= k == AG_TLS_WANT_WRITE ? AG_WANT_WRITE : AG_WANT_READ;
            return -AG_EAGAIN;
        }
        return k < 0 ? -AG_EIO : k;
    }
    ssize_t k = writev(fd, v, n);
    if (k < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -AG_EAGAIN : -AG_EIO;
    return k;
}
