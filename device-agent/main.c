/* main.c - device-agent: command line, configuration precedence (flags >
 * file > defaults), signals, and the loop. Everything else lives in the
 * agent's modules (agent.h). */
#include "agent.h"

#include "ht_conf.h"
#include "ht_err.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_sd.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The loop and the stop flag are the globals a signal handler reaches;
 * g_sd sends STOPPING=1 from the wakeup that the handler causes. */
static struct ht_loop *g_loop;
static struct ht_sd *g_sd;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_loop)
        ht_loop_wakeup(g_loop);
}

static void on_wakeup(struct ht_loop *l, void *ud)
{
    (void)l;
    if (g_stop) {
        ht_sd_stopping(g_sd);
        ht_agent_shutdown(ud);
    }
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: device-agent [--config FILE] [--sim] [--broker HOST:PORT] "
        "[--id ID] [options]\n"
        "\n"
        "Holotwin device agent: GPIO sensors and actuators (libgpiod or a\n"
        "simulated board) as a W3C WoT Thing over MQTT 5 and mDNS.\n"
        "\n"
        "  --config FILE      JSON configuration (see docs/device-agent.md)\n"
        "  --sim              simulated GPIO; without --config: the built-in\n"
        "                     demo board\n"
        "  --broker HOST:PORT MQTT broker (default: found by mDNS, or\n"
        "                     127.0.0.1:1883 with --no-mdns)\n"
        "  --id ID            device id [a-z0-9][a-z0-9._-]{0,63}\n"
        "  --username U       broker user name\n"
        "  --password P       broker password (or HOLOTWIN_MQTT_USERNAME and\n"
        "                     HOLOTWIN_MQTT_PASSWORD in the environment)\n"
        "  --cafile F         TLS CA file (enables TLS)\n"
        "  --certfile F       TLS client certificate\n"
        "  --keyfile F        TLS client key\n"
        "  --http-port N      serve the TD at /.well-known/wot on port N\n"
        "  --control PATH     sim: control socket (press, turn, param ...)\n"
        "  --mdns, --no-mdns  publish _wot._tcp / browse _mqtt._tcp (on)\n"
        "  --ring-size N      values kept while the broker is unreachable\n"
        "  --log-level L      error, warning, notice, info or debug\n"
        "  --deregister       publish an empty retained TD and status, exit\n"
        "  --help, --version\n"
        "\n"
        "Configuration keys (flags override the file):\n");
    ht_conf_print_help(ht_agent_conf_table(), out);
}

enum {
    OPT_CONFIG = 256,
    OPT_BROKER,
    OPT_ID,
    OPT_SIM,
    OPT_USER,
    OPT_PASS,
    OPT_CA,
    OPT_CERT,
    OPT_KEY,
    OPT_HTTP,
    OPT_CONTROL,
    OPT_MDNS,
    OPT_NO_MDNS,
    OPT_RING,
    OPT_LOG,
    OPT_DEREG,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option opts[] = {
    {"config", required_argument, 0, OPT_CONFIG},
    {"broker", required_argument, 0, OPT_BROKER},
    {"id", required_argument, 0, OPT_ID},
    {"sim", no_argument, 0, OPT_SIM},
    {"username", required_argument, 0, OPT_USER},
    {"password", required_argument, 0, OPT_PASS},
    {"cafile", required_argument, 0, OPT_CA},
    {"certfile", required_argument, 0, OPT_CERT},
    {"keyfile", required_argument, 0, OPT_KEY},
    {"http-port", required_argument, 0, OPT_HTTP},
    {"control", required_argument, 0, OPT_CONTROL},
    {"mdns", no_argument, 0, OPT_MDNS},
    {"no-mdns", no_argument, 0, OPT_NO_MDNS},
    {"ring-size", required_argument, 0, OPT_RING},
    {"log-level", required_argument, 0, OPT_LOG},
    {"deregister", no_argument, 0, OPT_DEREG},
    {"help", no_argument, 0, OPT_HELP},
    {"version", no_argument, 0, OPT_VERSION},
    {0, 0, 0, 0},
};

/* Flags that map onto configuration keys, applied after the file. */
static const char *const flag_keys[] = {
    [OPT_BROKER - OPT_CONFIG] = "mqtt.broker",
    [OPT_ID - OPT_CONFIG] = "id",
    [OPT_USER - OPT_CONFIG] = "mqtt.username",
    [OPT_PASS - OPT_CONFIG] = "mqtt.password",
    [OPT_CA - OPT_CONFIG] = "mqtt.cafile",
    [OPT_CERT - OPT_CONFIG] = "mqtt.certfile",
    [OPT_KEY - OPT_CONFIG] = "mqtt.keyfile",
    [OPT_HTTP - OPT_CONFIG] = "http.port",
    [OPT_CONTROL - OPT_CONFIG] = "sim.control",
    [OPT_RING - OPT_CONFIG] = "ring.size",
    [OPT_LOG - OPT_CONFIG] = "log.level",
};

struct setting {
    const char *key;
    const char *value;
};

int main(int argc, char **argv)
{
    const char *config = NULL;
    bool sim = false, dereg = false;
    int mdns = -1;
    struct setting sets[64];
    size_t nsets = 0;
    char err[1024];
    int rc;

    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG:
            config = optarg;
            break;
        case OPT_SIM:
            sim = true;
            break;
        case OPT_MDNS:
            mdns = 1;
            break;
        case OPT_NO_MDNS:
            mdns = 0;
            break;
        case OPT_DEREG:
            dereg = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("device-agent %s\n", HT_VERSION);
            return 0;
        case '?':
            fprintf(stderr,
                    "device-agent: unknown or incomplete option '%s' "
                    "(see --help)\n",
                    argv[optind - 1]);
            return 2;
        default:
            if (nsets < sizeof sets / sizeof *sets)
                sets[nsets++] =
                    (struct setting){flag_keys[c - OPT_CONFIG], optarg};
            break;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "device-agent: unexpected argument '%s' (see "
                "--help)\n",
                argv[optind]);
        return 2;
    }

    struct ht_agent_conf conf;
    ht_agent_conf_init(&conf);
    if (config)
        rc = ht_agent_conf_load(&conf, config, err, sizeof err);
    else if (sim)
        rc = ht_agent_conf_demo(&conf, err, sizeof err);
    else if (dereg)
        rc = HT_OK; /* only the id and the broker are needed */
    else {
        snprintf(err, sizeof err,
                 "no configuration: use --config FILE or "
                 "--sim (see --help)");
        rc = HT_EINVAL;
    }
    if (rc == HT_OK && !config && sim)
        rc = ht_conf_set(ht_agent_conf_table(), &conf, "id", "demo-1", err,
                         sizeof err);
    /* Broker credentials from the environment when the config has none:
     * a password kept out of the command line (ps) and out of a file
     * (systemd's EnvironmentFile=, LoadCredential=). Flags still win. */
    if (rc == HT_OK && !conf.username && getenv("HOLOTWIN_MQTT_USERNAME")) {
        rc = ht_conf_set(ht_agent_conf_table(), &conf, "mqtt.username",
                         getenv("HOLOTWIN_MQTT_USERNAME"), err, sizeof err);
        if (rc == HT_OK && getenv("HOLOTWIN_MQTT_PASSWORD"))
            rc = ht_conf_set(ht_agent_conf_table(), &conf, "mqtt.password",
                             getenv("HOLOTWIN_MQTT_PASSWORD"), err, sizeof err);
    }
    for (size_t i = 0; rc == HT_OK && i < nsets; i++)
        rc = ht_conf_set(ht_agent_conf_table(), &conf, sets[i].key,
                         sets[i].value, err, sizeof err);
    if (rc == HT_OK && sim)
        rc = ht_conf_set(ht_agent_conf_table(), &conf, "gpio.backend", "sim",
                         err, sizeof err);
    if (mdns >= 0)
        conf.mdns = mdns;
    int level = ht_log_level_parse(conf.log_level ? conf.log_level : "info");
    if (rc == HT_OK && level < 0) {
        snprintf(err, sizeof err, "log.level: unknown level '%s'",
                 conf.log_level);
        rc = HT_EINVAL;
    }
    if (rc != HT_OK) {
        fprintf(stderr, "device-agent: %s\n", err);
        ht_agent_conf_clear(&conf);
        return 1;
    }
    ht_log_set_level(level);

    struct ht_loop *loop = NULL;
    struct ht_agent *agent = NULL;
    if ((rc = ht_loop_new(&loop)) != HT_OK) {
        snprintf(err, sizeof err, "event loop: %s", ht_strerror(rc));
        goto out;
    }
    if (dereg) {
        rc = ht_agent_deregister(loop, &conf, err, sizeof err);
        if (rc == HT_OK)
            ht_log(LOG_NOTICE, "agent", "%s deregistered", conf.id);
        goto out;
    }
    rc = ht_agent_new(loop, &conf, &agent, err, sizeof err);
    if (rc == HT_OK)
        rc = ht_agent_start(agent, err, sizeof err);
    if (rc != HT_OK)
        goto out;

    g_loop = loop;
    ht_loop_on_wakeup(loop, on_wakeup, agent);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* no reloadable keys yet */
    ht_log(LOG_NOTICE, "agent", "device %s running (%s, %zu capabilities)",
           conf.id, conf.backend, conf.ncaps);
    g_sd = ht_sd_ready(loop);
    rc = ht_loop_run(loop);
    ht_log(LOG_NOTICE, "agent", "stopped");
out:
    ht_sd_free(g_sd);
    g_loop = NULL;
    ht_agent_free(agent);
    ht_loop_free(loop);
    if (rc != HT_OK)
        fprintf(stderr, "device-agent: %s\n", err);
    ht_agent_conf_clear(&conf);
    ht_log_shutdown();
    return rc == HT_OK ? 0 : 1;
}
