#include "core/err.h"

#include <stdio.h>
#include <string.h>

enum ag_rc ag_err_setv(struct ag_err *err, enum ag_rc rc, const char *fmt, va_list ap)
{
    if (err) {
        err->rc = rc;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return rc;
}

enum ag_rc ag_err_set(struct ag_err *err, enum ag_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ag_err_setv(err, rc, fmt, ap);
    va_end(ap);
    return rc;
}

void ag_err_prefix(struct ag_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char old[sizeof(err->msg)];
    memcpy(old, err->msg, sizeof(old));
    /* Truncation is fine here: the message is for a log line. */
    size_t n = strnlen(prefix, sizeof(prefix));
    if (n > sizeof(err->msg) - 3)
        n = sizeof(err->msg) - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t rest = sizeof(err->msg) - n - 3;
    size_t oldlen = strnlen(old, sizeof(old));
    if (oldlen > rest)
        oldlen = rest;
    memcpy(err->msg + n + 2, old, oldlen);
    err->msg[n + 2 + oldlen] = '\0';
}

void ag_err_clear(struct ag_err *err)
{
    if (err) {
        err->rc = AG_OK;
        err->msg[0] = '\0';
    }
}

const char *ag_rc_name(enum ag_rc rc)
{
    switch (rc) {
    case AG_OK:
        return "ok";
    case AG_EINVAL:
        return "invalid";
    case AG_EPARSE:
        return "parse";
    case AG_ECRYPTO:
        return "crypto";
    case AG_EEXPIRED:
        return "expired";
    case AG_EDENIED:
        return "denied";
    case AG_EUPSTREAM:
        return "upstream";
    case AG_ECONF:
        return "config";
    case AG_ENOMEM:
        return "exhausted";
    case AG_EIO:
        return "io";
    case AG_ETIMEOUT:
        return "timeout";
    case AG_EAGAIN:
        return "again";
    }
    return "unknown";
}
