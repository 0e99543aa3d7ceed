#include "auth/idp/http_fetch.h"
#include "auth/idp/http_fetch_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

static pthread_once_t ag_http_once = PTHREAD_ONCE_INIT;
static CURLcode ag_http_init_rc = CURLE_FAILED_INIT;

static void ag_http_global_init_once(void)
{
    ag_http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum ag_rc ag_http_fetch_global_init(void)
{
    pthread_once(&ag_http_once, ag_http_global_init_once);
    return ag_http_init_rc == CURLE_OK ? AG_OK : AG_EUPSTREAM;
}

struct ag_http_sink {
    struct ag_buf *out;
    size_t max;
    bool too_big;
};

static size_t ag_http_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct ag_http_sink *s = userp;
    size_t n = size * nmemb;
    if (s->out->len + n > s->max || ag_buf_append(s->out, data, n) != AG_OK) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

void ag_http_fetch_easy_setup(CURL *c, const char *url, const struct ag_http_fetch_opts *o,
                              char *cerr)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 3000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "airgate/" AG_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
}

enum ag_rc ag_http_fetch_get(const char *url, const struct ag_http_fetch_opts *opts,
                             struct ag_buf *out, struct ag_err *err)
{
    if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
        return ag_err_set(err, AG_EINVAL, "URL must start with https:// or http://");
    if (ag_http_fetch_global_init() != AG_OK)
        return ag_err_set(err, AG_EUPSTREAM, "curl_global_init failed");
    struct ag_http_fetch_opts o = opts ? *opts : (struct ag_http_fetch_opts){0};
    if (o.connect_timeout_ms <= 0)
        o.connect_timeout_ms = 3000;
    if (o.timeout_ms <= 0)
        o.timeout_ms = 5000;
    if (o.max_bytes == 0)
        o.max_bytes = 1024 * 1024;
    CURL *c = curl_easy_init();
    if (!c)
        return ag_err_set(err, AG_EUPSTREAM, "curl_easy_init failed");
    struct ag_http_sink sink = {.out = out, .max = o.max_bytes};
    char cerr[CURL_ERROR_SIZE] = "";
    ag_http_fetch_easy_setup(c, url, &o, cerr);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o.max_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ag_http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (sink.too_big || cc == CURLE_FILESIZE_EXCEEDED)
        return ag_err_set(err, AG_ENOMEM, "GET %s: response larger than %zu bytes", url,
                          o.max_bytes);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return ag_err_set(err, AG_ETIMEOUT, "GET %s: timed out (%s)", url,
                          cerr[0] ? cerr : curl_easy_strerror(cc));
    if (cc != CURLE_OK)
        return ag_err_set(err, AG_EUPSTREAM, "GET %s: %s", url,
                          cerr[0] ? cerr : curl_easy_strerror(cc));
    if (status != 200)
        return ag_err_set(err, AG_EUPSTREAM, "GET %s: HTTP status %ld", url, status);
    return AG_OK;
}
