/* main.c - gatewayd: command line and config file, signals, the loop.
 * Everything else lives in the gateway library (gateway.h). */
#include "gateway/gateway.h"

#include "ht_conf.h"
#include "ht_err.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_sd.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* Flags that map onto config keys (precedence: flag > file > default). */
static const struct {
    const char *flag, *key;
    bool boolean;
    const char *help;
} flags[] = {
    {"--data-dir", "data_dir", false, "DIR"},
    {"--http-port", "http.port", false, "N"},
    {"--http-bind", "http.bind", false, "ADDR"},
    {"--mqtt-port", "mqtt.port", false, "N (embedded broker)"},
    {"--broker", "mqtt.broker", false, "HOST:PORT (external broker)"},
    {"--web-root", "http.web_root", false, "DIR"},
    {"--tls-cert", "http.tls_cert", false, "FILE"},
    {"--tls-key", "http.tls_key", false, "FILE"},
    {"--log-level", "log_level", false, "LEVEL"},
    {"--gateway-id", "gateway.id", false, "ID"},
    {"--command-timeout-ms", "commands.timeout_ms", false, "MS"},
    {"--control-lease-ms", "control.lease_ms", false, "MS"},
    {"--no-mdns", "mdns.enabled", true, ""},
    {"--auto-approve", "devices.auto_approve", true, ""},
    {"--provisioning", "broker.provisioning", true,
     "(embedded broker: per-device credentials, no anonymous clients)"},
    {"--twins-dir", "twins.dir", false, "DIR (twin documents to apply)"},
    {"--mqtt-tls-port", "mqtt.tls_port", false,
     "N (embedded broker's TLS listener, 0: none)"},
    {"--broker-cafile", "mqtt.cafile", false,
     "FILE (external broker: TLS, verified with this CA)"},
    {"--upstream", "upstream.url", false,
     "URL[,URL...] (plant NATS cluster, docs/fleet.md)"},
    {"--site", "upstream.site", false, "ID (site in upstream subjects)"},
    {"--cell", "upstream.cell", false, "ID (cell in upstream subjects)"},
    {"--plant", "plant.enabled", true,
     "(plant view of every cell on the cluster at --upstream)"},
    {"--upstream-commands", "upstream.commands", true,
     "(run commands the plant view routes to this cell)"},
    {"--plant-commands", "plant.commands", true,
     "(plant view: route operators' commands to the cells)"},
    {"--insecure", "broker.insecure", true,
     "(DEVELOPMENT ONLY: anonymous MQTT on loopback, no TLS)"},
};
#define NFLAGS (sizeof flags / sizeof flags[0])

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gatewayd [--config FILE] [--data-dir DIR] [--http-port N]\n"
            "                [--mqtt-port N | --broker HOST:PORT] [options]\n"
            "\nThe Holotwin edge gateway. With no flags it starts its own\n"
            "mosquitto on 127.0.0.1:1883 and serves HTTP on 127.0.0.1:8080;\n"
            "the admin token is written to DATA_DIR/admin.token on first "
            "start.\n\nflags:\n");
    for (size_t i = 0; i < NFLAGS; i++)
        fprintf(out, "  %-22s %s (config key %s)\n", flags[i].flag,
                flags[i].help, flags[i].key);
    fprintf(out,
            "  %-22s %s\n  %-22s %s\n  %-22s\n  %-22s\n\nconfig keys "
            "(JSON file, dotted paths are nested objects):\n",
            "--config FILE",
            "JSON config file (SIGHUP reloads log_level, "
            "commands.timeout_ms, devices.auto_approve)",
            "--restore FILE",
            "restore a backup (gwctl backup) into the empty data dir, exit",
            "--help", "--version");
    ht_conf_print_help(ht_gw_conf_table(), out);
    fprintf(out,
            "\nenvironment: HOLOTWIN_MQTT_USERNAME, HOLOTWIN_MQTT_PASSWORD "
            "(external broker account\nwhen the config names none)\n");
}

struct sigctx {
    struct ht_loop *loop;
    struct ht_gw_conf *conf;
    const char *config; /* --config file, or NULL */
    const char **vals;  /* flag values, re-applied over the file */
    struct ht_sd *sd;   /* systemd notifications */
};

/* SIGHUP: parse into a fresh struct (defaults, file, flags), validate, and
 * copy only the reloadable keys into the live one; the others need a
 * restart and are reported. Runs on the loop thread, the only reader of
 * these keys. */
static void reload(struct sigctx *c)
{
    const struct ht_conf_key *tab = ht_gw_conf_table();
    struct ht_gw_conf fresh;
    char err[512];
    ht_gw_conf_init(&fresh);
    int rc = HT_OK;
    if (c->config)
        rc = ht_conf_load(tab, &fresh, c->config, NULL, NULL, err, sizeof err);
    for (size_t k = 0; rc == HT_OK && k < NFLAGS; k++)
        if (c->vals[k])
            rc = ht_conf_set(tab, &fresh, flags[k].key, c->vals[k], err,
                             sizeof err);
    int lvl = rc == HT_OK ? ht_log_level_parse(fresh.log_level ? fresh.log_level
                                                               : "info")
                          : -1;
    if (rc != HT_OK || lvl < 0) {
        ht_log(LOG_ERR, "main", "SIGHUP: config not reloaded: %s",
               rc != HT_OK ? err : "bad log_level");
        ht_gw_conf_clear(&fresh);
        return;
    }
    json_t *old = ht_conf_dump(tab, c->conf);
    bool other = false;
    ht_log_set_level(lvl);
    free(c->conf->log_level);
    c->conf->log_level = fresh.log_level;
    fresh.log_level = NULL;
    c->conf->command_timeout_ms = fresh.command_timeout_ms;
    c->conf->auto_approve = fresh.auto_approve;
    /* Anything else that differs waits for a restart. */
    fresh.command_timeout_ms = c->conf->command_timeout_ms;
    fresh.auto_approve = c->conf->auto_approve;
    json_t *after = ht_conf_dump(tab, &fresh);
    json_object_set_new(
        after, "log_level",
        json_string(c->conf->log_level ? c->conf->log_level : "info"));
    other = !json_equal(after, old);
    json_decref(after);
    ht_log(LOG_NOTICE, "main", "SIGHUP: configuration reloaded%s",
           other ? " (changes to non-reloadable keys need a restart)" : "");
    json_decref(old);
    ht_gw_conf_clear(&fresh);
}

static void on_signal(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    (void)ev;
    struct sigctx *c = ud;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            ht_sd_reloading(c->sd, 0);
            reload(c);
            ht_sd_reloading(c->sd, 1);
            continue;
        }
        ht_log(LOG_NOTICE, "main", "%s: stopping",
               si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        ht_sd_stopping(c->sd);
        ht_loop_stop(c->loop);
    }
}

int main(int argc, char **argv)
{
    struct ht_gw_conf conf;
    ht_gw_conf_init(&conf);
    const char *config = NULL;
    const char *restore = NULL;
    const char **vals = ht_calloc(NFLAGS, sizeof *vals);
    int rc = 1;
    char err[512];
    struct ht_loop *loop = NULL;
    struct ht_gw *g = NULL;
    struct ht_io *sio = NULL;
    int sfd = -1;
    struct ht_sd *sd = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        if (!strcmp(a, "--version")) {
            printf("gatewayd %s\n", HT_VERSION);
            rc = 0;
            goto out;
        }
        if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
            if (++i >= argc) {
                fprintf(stderr, "gatewayd: --config needs a file\n");
                goto out;
            }
            config = argv[i];
            continue;
        }
        if (!strcmp(a, "--restore")) {
            if (++i >= argc) {
                fprintf(stderr, "gatewayd: --restore needs a file\n");
                goto out;
            }
            restore = argv[i];
            continue;
        }
        size_t k;
        for (k = 0; k < NFLAGS; k++)
            if (!strcmp(a, flags[k].flag))
                break;
        if (k == NFLAGS) {
            fprintf(stderr, "gatewayd: unknown option '%s' (try --help)\n", a);
            goto out;
        }
        if (flags[k].boolean) {
            vals[k] = !strcmp(a, "--no-mdns") ? "false" : "true";
        } else {
            if (++i >= argc) {
                fprintf(stderr, "gatewayd: %s needs a value\n", a);
                goto out;
            }
            vals[k] = argv[i];
        }
    }
    if (config && ht_conf_load(ht_gw_conf_table(), &conf, config, NULL, NULL,
                               err, sizeof err) != HT_OK) {
        fprintf(stderr, "gatewayd: %s\n", err);
        goto out;
    }
    /* External broker credentials from the environment when the config
     * has none (a password out of ps and out of files). Flags still win. */
    if (!conf.mqtt_username && getenv("HOLOTWIN_MQTT_USERNAME") &&
        (ht_conf_set(ht_gw_conf_table(), &conf, "mqtt.username",
                     getenv("HOLOTWIN_MQTT_USERNAME"), err,
                     sizeof err) != HT_OK ||
         (getenv("HOLOTWIN_MQTT_PASSWORD") &&
          ht_conf_set(ht_gw_conf_table(), &conf, "mqtt.password",
                      getenv("HOLOTWIN_MQTT_PASSWORD"), err,
                      sizeof err) != HT_OK))) {
        fprintf(stderr, "gatewayd: HOLOTWIN_MQTT_*: %s\n", err);
        goto out;
    }
    /* The upstream account likewise. */
    if ((!conf.up_username || !*conf.up_username) &&
        getenv("HOLOTWIN_UPSTREAM_USERNAME") &&
        (ht_conf_set(ht_gw_conf_table(), &conf, "upstream.username",
                     getenv("HOLOTWIN_UPSTREAM_USERNAME"), err,
                     sizeof err) != HT_OK ||
         (getenv("HOLOTWIN_UPSTREAM_PASSWORD") &&
          ht_conf_set(ht_gw_conf_table(), &conf, "upstream.password",
                      getenv("HOLOTWIN_UPSTREAM_PASSWORD"), err,
                      sizeof err) != HT_OK))) {
        fprintf(stderr, "gatewayd: HOLOTWIN_UPSTREAM_*: %s\n", err);
        goto out;
    }
    for (size_t k = 0; k < NFLAGS; k++)
        if (vals[k] && ht_conf_set(ht_gw_conf_table(), &conf, flags[k].key,
                                   vals[k], err, sizeof err) != HT_OK) {
            fprintf(stderr, "gatewayd: %s: %s\n", flags[k].flag, err);
            goto out;
        }
    int lvl = ht_log_level_parse(conf.log_level ? conf.log_level : "info");
    if (lvl < 0) {
        fprintf(stderr, "gatewayd: log_level: unknown level '%s'\n",
                conf.log_level);
        goto out;
    }
    ht_log_set_level(lvl);
    if (!conf.data_dir) {
        fprintf(stderr, "gatewayd: data_dir must not be empty\n");
        goto out;
    }

    if (restore) {
        rc = ht_gw_restore(&conf, restore, err, sizeof err) == HT_OK ? 0 : 1;
        if (rc)
            fprintf(stderr, "gatewayd: --restore: %s\n", err);
        goto out;
    }

    /* Block the signals before any thread exists (MHD's inherits the mask)
     * and read them through a signalfd on the loop. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0 || ht_loop_new(&loop) != HT_OK) {
        fprintf(stderr, "gatewayd: cannot set up the event loop: %s\n",
                strerror(errno));
        goto out;
    }
    struct sigctx sc = {loop, &conf, config, vals, NULL};
    sio = ht_io_new(loop, sfd, HT_LOOP_READ, on_signal, &sc);
    if (ht_gw_new(loop, &conf, &g, err, sizeof err) != HT_OK ||
        ht_gw_start(g, err, sizeof err) != HT_OK) {
        fprintf(stderr, "gatewayd: %s\n", err);
        goto out;
    }
    sd = sc.sd = ht_sd_ready(loop);
    rc = ht_loop_run(loop) == HT_OK ? 0 : 1;
out:
    ht_sd_free(sd);
    ht_gw_free(g);
    ht_io_free(sio);
    if (sfd >= 0)
        close(sfd);
    ht_loop_free(loop);
    ht_gw_conf_clear(&conf);
    free(vals);
    ht_log_shutdown();
    return rc;
}
