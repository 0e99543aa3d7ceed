/* The one translation between libmicrohttpd and core/http_msg.h: a connection's request head
 * to struct ag_http_request, and struct ag_http_response to a queued MHD response. */
#ifndef AG_PROXY_MHD_MSG_H
#define AG_PROXY_MHD_MSG_H

#include <microhttpd.h>
#include <stdbool.h>

#include "core/http_msg.h"

/** Fills req from conn: method, raw path and query split from raw_uri (as received, not
 * percent-decoded), every header in order. Strings live in a. */
void ag_mhd_request_fill(struct ag_arena *a, struct MHD_Connection *conn, const char *method,
                         const char *raw_uri, struct ag_http_request *req);

/** Queues resp (status, content type, body, extra headers) on conn. HEAD gets the headers of
 * the GET answer without the body (libmicrohttpd drops it). Returns MHD_NO when queuing
 * failed. */
enum MHD_Result ag_mhd_respond(struct MHD_Connection *conn, const struct ag_http_response *resp);

#endif
