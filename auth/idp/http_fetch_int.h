/* For the other HTTP-client file of auth/ (oidc_client.c): the one place the IdP-facing curl
 * handle gets its security settings, so GET and POST cannot drift apart. Includes curl. */
#ifndef AG_AUTH_HTTP_FETCH_INT_H
#define AG_AUTH_HTTP_FETCH_INT_H

#include <curl/curl.h>

#include "auth/idp/http_fetch.h"

/** Sets URL, http/https only, no redirects, no signals, TLS peer and host verification (CA file
 * from o), connect/total timeouts (defaults 3000/5000 ms), user agent and the error buffer
 * cerr (CURL_ERROR_SIZE bytes, owned by the caller). */
void ag_http_fetch_easy_setup(CURL *c, const char *url, const struct ag_http_fetch_opts *o,
                              char *cerr);

#endif
