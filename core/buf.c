#include "core/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define AG_BUF_DEFAULT_MAX ((size_t)64 << 20)

void ag_buf_init(struct ag_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : AG_BUF_DEFAULT_MAX;
}

void ag_buf_release(struct ag_buf *b, int wipe)
{
    if (b->data && wipe)
        OPENSSL_cleanse(b->data, b->cap);
    free(b->data);
    ag_buf_init(b, b->max);
}

void ag_buf_clear(struct ag_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static enum ag_rc ag_buf_reserve(struct ag_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return AG_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return AG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p) {
        fputs("airgate: out of memory\n", stderr);
        abort();
    }
    b->data = p;
    b->cap = cap;
    return AG_OK;
}

enum ag_rc ag_buf_append(struct ag_buf *b, const void *data, size_t n)
{
    enum ag_rc rc = ag_buf_reserve(b, n);
    if (rc != AG_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return AG_OK;
}

enum ag_rc ag_buf_puts(struct ag_buf *b, const char *s)
{
    return ag_buf_append(b, s, strlen(s));
}

enum ag_rc ag_buf_printf(struct ag_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AG_EINVAL;
    enum ag_rc rc = ag_buf_reserve(b, (size_t)n);
    if (rc != AG_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return AG_OK;
}

size_t ag_utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

enum ag_rc ag_buf_append_json_string(struct ag_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t start_len = b->len;
    enum ag_rc rc = ag_buf_append(b, "\"", 1);
    for (size_t i = 0; rc == AG_OK && i < n;) {
        unsigned char c = p[i];
        char esc[7];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            rc = ag_buf_append(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            rc = ag_buf_append(b, esc, 6);
            i++;
        } else {
            size_t len = ag_utf8_seq_len(p + i, n - i);
            if (len == 0) {
                rc = ag_buf_append(b, "\\ufffd", 6);
                i++;
            } else {
                rc = ag_buf_append(b, p + i, len);
                i += len;
            }
        }
    }
    if (rc == AG_OK)
        rc = ag_buf_append(b, "\"", 1);
    if (rc != AG_OK) {
        b->len = start_len;
        if (b->data)
            b->data[b->len] = '\0';
    }
    return rc;
}

enum ag_rc ag_buf_append_html(struct ag_buf *b, const char *s)
{
    enum ag_rc rc = AG_OK;
    for (; rc == AG_OK && *s; s++) {
        switch (*s) {
        case '&':
            rc = ag_buf_puts(b, "&amp;");
            break;
        case '<':
            rc = ag_buf_puts(b, "&lt;");
            break;
        case '>':
            rc = ag_buf_puts(b, "&gt;");
            break;
        case '"':
            rc = ag_buf_puts(b, "&quot;");
            break;
        case '\'':
            rc = ag_buf_puts(b, "&#39;");
            break;
        default:
            rc = ag_buf_append(b, s, 1);
            break;
        }
    }
    return rc;
}
