/* One error convention for the whole code base: functions return enum ag_rc and, when they fail,
 * fill a caller-provided struct ag_err with a message for the log. The caller logs once. */
#ifndef AG_CORE_ERR_H
#define AG_CORE_ERR_H

#include <stdarg.h>

#define AG_WUR __attribute__((warn_unused_result))
#define AG_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))

enum ag_rc {
    AG_OK = 0,
    AG_EINVAL,    /* bad argument or input that is not a parse error (usage, limits) */
    AG_EPARSE,    /* malformed input: YAML, JSON, base64url, HTTP */
    AG_ECRYPTO,   /* signature, MAC or key failure */
    AG_EEXPIRED,  /* a token, cookie or session is outside its validity window */
    AG_EDENIED,   /* authenticated but not allowed by policy */
    AG_EUPSTREAM, /* an upstream or the IdP failed or is unreachable */
    AG_ECONF,     /* invalid configuration */
    AG_ENOMEM,    /* a bounded resource is exhausted (allocation failure itself aborts) */
    AG_EIO,       /* file or socket I/O failed */
    AG_ETIMEOUT,  /* an operation ran out of time */
    AG_EAGAIN,    /* would have to wait (network I/O): call the blocking variant elsewhere */
};

/** Message for the log, never for the client. */
struct ag_err {
    enum ag_rc rc;
    char msg[256];
};

/** Fills err (may be NULL) with rc and a formatted message; returns rc so callers can `return
 * ag_err_set(...)`. */
enum ag_rc ag_err_set(struct ag_err *err, enum ag_rc rc, const char *fmt, ...) AG_PRINTF(3, 4);

/** Like ag_err_set, with a va_list. */
enum ag_rc ag_err_setv(struct ag_err *err, enum ag_rc rc, const char *fmt, va_list ap)
    AG_PRINTF(3, 0);

/** Prepends "prefix: " to the message already in err (for adding context on the way up). */
void ag_err_prefix(struct ag_err *err, const char *fmt, ...) AG_PRINTF(2, 3);

/** Resets err to AG_OK with an empty message. */
void ag_err_clear(struct ag_err *err);

/** Stable lower-case name of a code ("invalid", "parse", "crypto", ...) for logs and metrics. */
const char *ag_rc_name(enum ag_rc rc);

#endif
