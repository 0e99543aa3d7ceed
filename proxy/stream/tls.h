/* TLS on non-blocking sockets with OpenSSL, for the front (HTTPS from tls.cert_file and
 * tls.key_file, TLS 1.2+) and for https:// upstreams (verified against upstreams.ca_file or the
 * system store, with the host name checked). The event loops own the sockets; this module only
 * turns ciphertext on a descriptor into plaintext reads and writes, and says which readiness
 * (read or write) the caller must wait for. */
#ifndef AG_PROXY_TLS_H
#define AG_PROXY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/err.h"

struct ag_tls_ctx; /* reference-counted; thread-safe to share */
struct ag_tls;     /* one connection; used by one thread at a time */

/* Results of ag_tls_read / ag_tls_writev besides a byte count (> 0). */
#define AG_TLS_EOF 0          /* read: the peer closed (close_notify or plain EOF) */
#define AG_TLS_WANT_READ (-2) /* wait until the socket is readable, then call again */
#define AG_TLS_WANT_WRITE (-3)
#define AG_TLS_ERROR (-1) /* fatal: close the connection; ag_tls_error says why */

/** A server context from PEM files (certificate chain, private key; checked to match), TLS 1.2
 * and 1.3 only, no session tickets needed across restarts, no compression, no renegotiation.
 * AG_ECONF naming the file when something is unreadable or does not match. */
enum ag_rc ag_tls_server_ctx_new(const char *cert_file, const char *key_file,
                                 struct ag_tls_ctx **out, struct ag_err *err) AG_WUR;

/** A client context for upstreams: TLS 1.2+, peer verification against ca_file (PEM bundle) or,
 * when ca_file is NULL or "", the system default store. */
enum ag_rc ag_tls_client_ctx_new(const char *ca_file, struct ag_tls_ctx **out,
                                 struct ag_err *err) AG_WUR;

struct ag_tls_ctx *ag_tls_ctx_ref(struct ag_tls_ctx *c);
/** Drops a reference; connections made from it keep what they need. NULL is a no-op. */
void ag_tls_ctx_unref(struct ag_tls_ctx *c);

/** Server side of an accepted, non-blocking socket (the handshake runs inside the first reads
 * and writes). NULL on allocation failure. The descriptor stays the caller's. */
struct ag_tls *ag_tls_accept(struct ag_tls_ctx *c, int fd);

/** Client side of a connected (or connecting) non-blocking socket to host (SNI and the name the
 * certificate must carry; an IP literal is checked as an IP address). */
struct ag_tls *ag_tls_connect(struct ag_tls_ctx *c, int fd, const char *host);

/** Reads up to n plaintext bytes: > 0 bytes, AG_TLS_EOF, AG_TLS_WANT_READ/WRITE or AG_TLS_ERROR. */
ssize_t ag_tls_read(struct ag_tls *t, void *buf, size_t n);

/** Writes the iovecs in order (the first ones completely before later ones): bytes written
 * (> 0, possibly fewer than the total), AG_TLS_WANT_READ/WRITE (nothing written) or
 * AG_TLS_ERROR. A caller retrying after WANT_* passes the same bytes again. */
ssize_t ag_tls_writev(struct ag_tls *t, const struct iovec *iov, int n);

/** True when decrypted bytes are buffered inside OpenSSL (epoll will not report them). */
bool ag_tls_pending(const struct ag_tls *t);

/** True once the handshake has finished. */
bool ag_tls_established(const struct ag_tls *t);

/** Why the last call failed ("certificate verify failed: ...", "handshake: wrong version"),
 * for the log. Never NULL. */
const char *ag_tls_error(const struct ag_tls *t);

/** Sends close_notify without waiting and frees t (the descriptor is not closed). NULL: no-op. */
void ag_tls_free(struct ag_tls *t);

/* Plain (tls NULL) or TLS socket I/O for the connections (conn.c, upconn.c). They return a byte
 * count or a negated enum ag_rc, the one "try again" being core's AG_EAGAIN: n >= 0 bytes (0 from
 * a read: end of stream), -AG_EAGAIN when it would block (*want then says what TLS waits for),
 * -AG_EIO on error (errno, or ag_tls_error, says why). */
#define AG_WANT_READ 1
#define AG_WANT_WRITE 2

/** Reads from a plain (tls NULL) or TLS socket: bytes, 0 at end of stream, -AG_EAGAIN, -AG_EIO. */
ssize_t ag_io_read(int fd, struct ag_tls *tls, uint8_t *want, void *b, size_t n);
/** Writes the slices in order: bytes written, -AG_EAGAIN or -AG_EIO. */
ssize_t ag_io_writev(int fd, struct ag_tls *tls, uint8_t *want, const struct iovec *v, int n);

#endif
