#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"
#include "proxy/manage/metrics.h"

static char *om(const char *text, struct ag_buf *b)
{
    ag_buf_init(b, 1u << 20);
    cr_assert_eq(ag_metrics_to_openmetrics(text, strlen(text), b), AG_OK);
    cr_assert_eq(ag_buf_append(b, "", 1), AG_OK);
    return b->data;
}

Test(metrics, openmetrics_names_counter_families_without_total)
{
    struct ag_buf b;
    const char *in = "# HELP airgate_requests_total Requests answered.\n"
                     "# TYPE airgate_requests_total counter\n"
                     "airgate_requests_total{route=\"proxy\",status=\"200\"} 3\n"
                     "# HELP airgate_jwks_keys Usable keys.\n"
                     "# TYPE airgate_jwks_keys gauge\nairgate_jwks_keys 2\n"
                     "# HELP lat Latency.\n# TYPE lat histogram\nlat_bucket{le=\"+Inf\"} 1\n"
                     "lat_sum 0.5\nlat_count 1\n";
    cr_assert_str_eq(om(in, &b), "# HELP airgate_requests Requests answered.\n"
                                 "# TYPE airgate_requests counter\n"
                                 "airgate_requests_total{route=\"proxy\",status=\"200\"} 3\n"
                                 "# HELP airgate_jwks_keys Usable keys.\n"
                                 "# TYPE airgate_jwks_keys gauge\nairgate_jwks_keys 2\n"
                                 "# HELP lat Latency.\n# TYPE lat histogram\n"
                                 "lat_bucket{le=\"+Inf\"} 1\nlat_sum 0.5\nlat_count 1\n"
                                 "# EOF\n");
    ag_buf_release(&b, 0);
}

Test(metrics, openmetrics_of_the_real_rendering_ends_with_eof)
{
    struct ag_buf text, b;
    ag_metrics_reset();
    ag_metrics_request(AG_ROUTE_STATUSZ, 200);
    ag_buf_init(&text, 1u << 20);
    cr_assert_eq(ag_metrics_render(&text), AG_OK);
    cr_assert_eq(ag_buf_append(&text, "", 1), AG_OK);
    const char *s = om(text.data, &b);
    cr_assert(strstr(s, "airgate_requests_total{route=\"statusz\",status=\"200\"} 1\n"));
    cr_assert(strstr(s, "# TYPE airgate_auth_decisions counter\n"));
    cr_assert_null(strstr(s, "# TYPE airgate_auth_decisions_total"));
    cr_assert_null(strstr(s, "\n\n"), "no empty lines");
    size_t n = strlen(s);
    cr_assert(n > 6 && strcmp(s + n - 6, "# EOF\n") == 0);
    ag_buf_release(&text, 0);
    ag_buf_release(&b, 0);
}

Test(metrics, openmetrics_without_a_trailing_newline)
{
    struct ag_buf b;
    cr_assert_str_eq(om("a_total 1", &b), "a_total 1\n# EOF\n");
    ag_buf_release(&b, 0);
    cr_assert_str_eq(om("", &b), "# EOF\n");
    ag_buf_release(&b, 0);
}
