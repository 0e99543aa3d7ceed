/* `airgate serve -c FILE`: runs the proxy in the foreground until SIGTERM/SIGINT (drain, exit 0);
 * SIGHUP reloads the config, keys and TLS certificate (an invalid new config is logged and the
 * running one kept). Signals are taken synchronously with sigwait on the main thread. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "conf/config.h"
#include "core/log.h"
#include "proxy/proxy.h"

extern char **environ;

static const char ag_serve_usage[] =
    "Usage: airgate serve -c FILE\n"
    "\n"
    "Runs the proxy in the foreground, logging JSON lines to stderr.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   the YAML config (every key may also come from AIRGATE_* variables)\n"
    "  -h, --help          this help\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop accepting, let in-flight requests finish (up to\n"
    "server.drain_timeout_s) and exit 0; SIGHUP reloads the config, the IdP keys and the TLS\n"
    "certificate without dropping connections (an invalid config is logged and ignored).\n"
    "Exit codes: 0 clean stop, 1 runtime failure, 2 bad config or usage.\n";

static void ag_serve_log_listening(const struct ag_config *cfg, const struct ag_proxy *px)
{
    /* always shown (unless logging is off): scripts and the benchmark wait for these lines */
    enum ag_log_level lvl = ag_log_min_level > AG_LOG_INFO ? ag_log_min_level : AG_LOG_INFO;
    const char *mhost = cfg->management.listen_host ? cfg->management.listen_host : "127.0.0.1";
    char maddr[128];
    snprintf(maddr, sizeof(maddr), strchr(mhost, ':') ? "[%s]:%u" : "%s:%u", mhost,
             (unsigned)px->mgmt_port);
    struct ag_log_field mf[] = {AG_LF_STR("address", maddr), AG_LF_NUM("port", px->mgmt_port)};
    ag_log_emit(lvl, NULL, mf, sizeof(mf) / sizeof(mf[0]),
                "management listening on http://%s (/metrics, /statusz, /healthz, /readyz)", maddr);
    const char *host = cfg->listen_host ? cfg->listen_host : "0.0.0.0";
    char addr[128];
    snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
             (unsigned)px->bound_port);
    struct ag_log_field f[] = {
        AG_LF_STR("address", addr),
        AG_LF_NUM("port", px->bound_port),
        AG_LF_STR("scheme", cfg->tls_enabled ? "https" : "http"),
        AG_LF_NUM("upstreams", cfg->upstreams.servers.n),
        AG_LF_NUM("management_port", px->mgmt_port),
    };
    ag_log_emit(lvl, NULL, f, sizeof(f) / sizeof(f[0]), "listening on %s://%s",
                cfg->tls_enabled ? "https" : "http", addr);
}

int ag_cmd_serve(int argc, char **argv)
{
    const char *path = NULL;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'h':
            fputs(ag_serve_usage, stdout);
            return AG_EXIT_OK;
        default:
            fputs(ag_serve_usage, stderr);
            return AG_EXIT_USAGE;
        }
    }
    if (!path || optind != argc) {
        fprintf(stderr, "airgate serve: %s\n\n%s",
                path ? "unexpected argument" : "-c FILE is required", ag_serve_usage);
        return AG_EXIT_USAGE;
    }
    struct ag_config *cfg = NULL;
    if (ag_config_load(path, environ, &cfg, stderr) != AG_OK) {
        fprintf(stderr, "airgate serve: invalid config %s\n", path);
        return AG_EXIT_USAGE;
    }
    /* block the signals before any thread starts so only sigwait sees them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct ag_proxy *px = NULL;
    struct ag_err err = {0};
    enum ag_rc rc = ag_proxy_start(cfg, &px, &err);
    if (rc != AG_OK) {
        ag_log(AG_LOG_ERROR, NULL, "cannot start: %s", err.msg);
        ag_config_unref(cfg);
        return rc == AG_ECONF ? AG_EXIT_USAGE : AG_EXIT_FAIL;
    }
    ag_serve_log_listening(cfg, px);
    long drain_s = cfg->server.drain_timeout_s;
    ag_config_unref(cfg);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            struct ag_config *ncfg = NULL;
            char *buf = NULL;
            size_t len = 0;
            FILE *errs = open_memstream(&buf, &len);
            enum ag_rc lrc = ag_config_load(path, environ, &ncfg, errs ? errs : stderr);
            if (errs)
                fclose(errs);
            if (lrc != AG_OK) {
                ag_log(AG_LOG_ERROR, NULL, "reload: %s is invalid, keeping the running config: %s",
                       path, buf ? buf : "");
                free(buf);
                continue;
            }
            free(buf);
            struct ag_err rerr = {0};
            if (ag_proxy_reload(px, ncfg, &rerr) != AG_OK) {
                ag_log(AG_LOG_ERROR, NULL, "reload failed, keeping the running config: %s",
                       rerr.msg);
            } else {
                drain_s = ncfg->server.drain_timeout_s;
                ag_log(AG_LOG_INFO, NULL, "reloaded %s", path);
            }
            ag_config_unref(ncfg);
            continue;
        }
        ag_log(AG_LOG_INFO, NULL, "%s: draining (up to %ld s)",
               sig == SIGINT ? "SIGINT" : "SIGTERM", drain_s);
        int left = ag_proxy_drain_and_free(px, drain_s);
        if (left > 0)
            ag_log(AG_LOG_WARN, NULL, "stopped with %d request(s) still running at the deadline",
                   left);
        else
            ag_log(AG_LOG_INFO, NULL, "stopped cleanly");
        return AG_EXIT_OK;
    }
}
