/* Private to proxy/http/: the parser states and limits shared by h1.c (the head) and h1_body.c
 * (bodies: Content-Length, chunked, to the end of the connection). */
#ifndef AG_PROXY_HTTP_H1_INT_H
#define AG_PROXY_HTTP_H1_INT_H

#include <stdbool.h>

enum ag_h1_mode {
    AG_H1_M_NONE = 0, /* no body */
    AG_H1_M_LENGTH,
    AG_H1_M_CHUNKED,
    AG_H1_M_CLOSE,
};

enum ag_h1_cstate {
    AG_H1_C_SIZE0 = 0, /* first hex digit of a chunk size */
    AG_H1_C_SIZE,      /* more hex digits, ';' or CR */
    AG_H1_C_EXT,       /* chunk extension up to CR */
    AG_H1_C_SIZE_LF,   /* LF after the size line */
    AG_H1_C_DATA,
    AG_H1_C_DATA_CR, /* CR after chunk data */
    AG_H1_C_DATA_LF,
    AG_H1_C_TRAILER0, /* start of a trailer line (or the final CRLF) */
    AG_H1_C_TRAILER,
    AG_H1_C_TRAILER_LF,
    AG_H1_C_END_LF, /* LF of the final empty line */
};

#define AG_H1_META_MAX 4096
#define AG_H1_HEX_MAX 16

/** RFC 9110 CTL, except HTAB. */
static inline bool ag_h1_ctl(unsigned char ch)
{
    return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

#endif
