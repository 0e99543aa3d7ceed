/* Helpers for the proxy/tls tests (see tls_testkit.c). */
#ifndef AG_TESTS_TLS_TESTKIT_H
#define AG_TESTS_TLS_TESTKIT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "proxy/stream/tls.h"

/* PEM files written by tls_kit_setup: a CA, a server certificate it signed (localhost, 127.0.0.1,
 * ::1), a self-signed "other" certificate, a garbage PEM and an encrypted key. */
extern char tk_ca[128], tk_srv_cert[128], tk_srv_key[128], tk_other_cert[128], tk_other_key[128];
extern char tk_garbage[128], tk_enc_key[128];
/* A leaf for localhost issued by an intermediate CA (which ca.pem issued), with the chain. */
extern char tk_chain_cert[128], tk_chain_key[128];

/* One side of a handshake: an ag_tls or a raw OpenSSL client. */
struct tk_side {
    struct ag_tls *t;
    SSL *raw;
    int fd;
    ssize_t last; /* WANT_*, 1 = established, AG_TLS_ERROR/EOF */
};
struct tk_conn {
    int sv[2]; /* 0: server, 1: client */
    struct tk_side srv, cli;
};
struct tk_xfer_stats {
    unsigned calls;
    int want_write;
    int short_writes;
    int reads;
};

void tls_kit_setup(void);
void tls_kit_teardown(void);
void tk_sock_pair(int sv[2], int bufsize);
struct ag_tls_ctx *tk_server_ctx(const char *cert, const char *key);
struct ag_tls_ctx *tk_client_ctx(const char *ca);
bool tk_side_done(const struct tk_side *s);
void tk_side_step(struct tk_side *s);
void tk_pump_handshake(struct tk_side *a, struct tk_side *b);
void tk_conn_open(struct tk_conn *c, struct ag_tls_ctx *sctx, struct ag_tls_ctx *cctx,
                  const char *host, int bufsize);
void tk_conn_close(struct tk_conn *c);
unsigned char *tk_transfer(struct ag_tls *w, int wfd, struct ag_tls *r, int rfd,
                           const unsigned char *data, size_t len, const size_t *cuts, int ncuts,
                           size_t rchunk, struct tk_xfer_stats *st);
void tk_fill(unsigned char *p, size_t n, unsigned seed);
void tk_echo(struct tk_conn *c, const char *msg);
/* Handshake of an ag_tls server with a raw OpenSSL client made from raw (srv.t, cli.raw). */
void tk_raw_open(struct tk_conn *c, struct ag_tls_ctx *sctx, SSL_CTX *raw);
void tk_raw_close(struct tk_conn *c);

#endif
