#include "core/http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/secret.h"

struct ag_http_client {
    CURL *easy;
};

static pthread_once_t ag_http_once = PTHREAD_ONCE_INIT;
static CURLcode ag_http_init_rc = CURLE_FAILED_INIT;

static void ag_http_global_init_once(void)
{
    ag_http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum ag_rc ag_http_global_init(void)
{
    pthread_once(&ag_http_once, ag_http_global_init_once);
    return ag_http_init_rc == CURLE_OK ? AG_OK : AG_EUPSTREAM;
}

struct ag_http_client *ag_http_client_new(void)
{
    if (ag_http_global_init() != AG_OK)
        return NULL;
    struct ag_http_client *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->easy = curl_easy_init();
    if (!c->easy) {
        free(c);
        return NULL;
    }
    return c;
}

void ag_http_client_free(struct ag_http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->easy);
    free(c);
}

struct ag_http_sink {
    struct ag_buf *out; /* NULL: discard */
    size_t max;
    bool too_big;
};

static size_t ag_http_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct ag_http_sink *s = userp;
    size_t n = size * nmemb;
    if (!s->out)
        return n;
    if (s->out->len + n > s->max || ag_buf_append(s->out, data, n) != AG_OK) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

static void ag_http_setup(CURL *e, const struct ag_http_call *call,
                          const struct ag_http_client_opts *o, struct ag_http_sink *sink,
                          char *cerr)
{
    curl_easy_setopt(e, CURLOPT_URL, call->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file); /* NULL: back to the default bundle */
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 3000L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 5000L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "airgate/" AG_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ag_http_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, sink);
    if (sink->out)
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink->max);
    if (call->post_body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->post_body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(call->post_body));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
}

static struct curl_slist *ag_http_headers(const struct ag_http_call *call,
                                          const struct ag_http_client_opts *o,
                                          struct curl_slist **pin)
{
    struct curl_slist *h = NULL;
    for (size_t i = 0; call->headers && call->headers[i]; i++) {
        struct curl_slist *n = curl_slist_append(h, call->headers[i]);
        if (!n)
            abort();
        h = n;
    }
    *pin = NULL;
    if (o->connect_to && o->connect_to[0]) {
        *pin = curl_slist_append(NULL, o->connect_to);
        if (!*pin)
            abort();
    }
    return h;
}

static void ag_http_headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        ag_secret_wipe(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

static enum ag_rc ag_http_outcome(CURLcode cc, const struct ag_http_sink *sink, const char *cerr,
                                  struct ag_err *err)
{
    const char *detail = cerr[0] ? cerr : curl_easy_strerror(cc);
    if (sink->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        return ag_err_set(err, AG_ENOMEM, "response larger than %zu bytes", sink->max);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return ag_err_set(err, AG_ETIMEOUT, "timed out (%s)", detail);
    if (cc != CURLE_OK)
        return ag_err_set(err, AG_EUPSTREAM, "%s", detail);
    return AG_OK;
}

enum ag_rc ag_http_client_call(struct ag_http_client *c, const struct ag_http_call *call,
                               const struct ag_http_client_opts *opts, long *status,
                               struct ag_buf *out, struct ag_err *err)
{
    *status = 0;
    const char *url = call ? call->url : NULL;
    if (!url || (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0))
        return ag_err_set(err, AG_EINVAL, "URL must start with https:// or http://");
    if (ag_http_global_init() != AG_OK)
        return ag_err_set(err, AG_EUPSTREAM, "curl_global_init failed");
    struct ag_http_client_opts o = opts ? *opts : (struct ag_http_client_opts){0};
    if (o.max_bytes == 0)
        o.max_bytes = 1024 * 1024;
    struct ag_http_client *own = NULL;
    if (!c) {
        c = own = ag_http_client_new();
        if (!c)
            return ag_err_set(err, AG_EUPSTREAM, "curl_easy_init failed");
    }
    struct ag_http_sink sink = {.out = out, .max = o.max_bytes};
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *pin = NULL;
    struct curl_slist *hdrs = ag_http_headers(call, &o, &pin);
    ag_http_setup(c->easy, call, &o, &sink, cerr);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c->easy, CURLOPT_CONNECT_TO, pin);
    CURLcode cc = curl_easy_perform(c->easy);
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, status);
    /* a reused handle must not keep pointers to this call's stack */
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->easy, CURLOPT_CONNECT_TO, NULL);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, NULL);
    enum ag_rc rc = ag_http_outcome(cc, &sink, cerr, err);
    ag_http_headers_free(hdrs);
    curl_slist_free_all(pin);
    ag_http_client_free(own);
    return rc;
}
