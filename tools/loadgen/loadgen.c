/* loadgen.c - one process that plays N device agents against a broker.
 *
 * Each simulated agent is a real libmosquitto MQTT 5 client: it publishes its
 * retained W3C WoT TD (built by semantics/ht_sem_td_build, like the real
 * agent) and retained status with an "offline" Will, then property values
 * {"v":..,"ts":ms,"seq":n,"t0":ns} on holotwin/v1/devices/{id}/props/{name}
 * at a total rate R. "t0" is CLOCK_MONOTONIC in ns at the moment of the
 * publish call, and by default "v" is the same instant in microseconds, so a
 * receiver that only sees the value (an SSE client of the gateway) can still
 * compute the latency. With --ack-commands every agent answers commands like
 * the real one does (MQTT 5 response topic + correlation data).
 *
 * Why not ht_loop + ht_mqtt: with 10,000 connections a poll() set is walked
 * on every iteration, and ht_mqtt arms one timer per client. A bench tool
 * must not be the bottleneck, so this drives libmosquitto's raw
 * loop_read/loop_write from one epoll set (level-triggered, EPOLLOUT only
 * while mosquitto_want_write()).
 */
#include "ht_err.h"
#include "ht_mem.h"
#include "ht_topic.h"
#include "ht_util.h"
#include "semantics/semantics.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define LG_PENDING_MAX 64 /* connects awaiting CONNACK at once */
#define LG_BATCH_MAX 4096 /* publishes per loop iteration */
#define LG_DRAIN_MS 5000  /* how long to wait for acks at the end */
#define LG_PAYLOAD_MAX 65536
#define LG_CONNECT_TIMEOUT_S 120 /* connect + register, all devices */

struct lg;

/* One simulated agent. */
struct lg_dev {
    struct lg *lg;
    struct mosquitto *m;
    unsigned idx;
    int fd;
    unsigned ev; /* events registered in epoll (0 = not added) */
    bool connected, dead;
    bool registered; /* TD PUBACK received (QoS 1) */
    int td_mid;
    unsigned outstanding; /* QoS 1 publishes not yet acknowledged */
    unsigned next_prop;
    uint32_t seq;
    char id[HT_ID_MAX + 1];
};

struct lg_opts {
    char host[256];
    int port;
    unsigned devices, props;
    double rate;   /* total msg/s; 0 = as fast as the broker takes */
    unsigned size; /* payload bytes (padded up to) */
    int qos;
    double duration;    /* s; 0 = until count (or signal) */
    uint64_t count;     /* total messages; 0 = until duration */
    const char *prefix; /* topic prefix */
    const char *id_prefix;
    unsigned id_base;
    bool value_counter; /* v = seq instead of the send time in us */
    bool ack_commands;
    bool register_only;
    bool deregister;
    bool no_register;
    unsigned settle_ms;
    const char *ready_file, *go_file;
    unsigned window; /* max unacknowledged QoS 1 publishes per device */
    bool nagle;      /* leave Nagle on: fewer, larger TCP segments */
};

struct lg {
    struct lg_opts o;
    struct lg_dev *devs;
    int ep, sfd;
    bool stop;
    unsigned next_connect, pending, connected, registered, lost;
    unsigned next_dev;
    uint64_t sent, pub_errors, acked, commands, cmd_errors;
    uint64_t t_start, t_connected, t_registered, t_pub0, t_pub1;
    char *payload; /* scratch */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: loadgen [options]\n"
        "\nSimulates N Holotwin device agents (one MQTT 5 connection each)\n"
        "publishing their TD, status and property values at a total rate.\n"
        "Prints a JSON summary on stdout; progress on stderr.\n\n"
        "  --broker HOST:PORT  broker (default 127.0.0.1:1883)\n"
        "  --devices N         simulated agents (default 10, max 10000)\n"
        "  --props K           properties per device (default 8; p0 is a\n"
        "                      writable setpoint, the rest read-only sensors)\n"
        "  --rate R            total property messages/s (default 1000;\n"
        "                      0 = as fast as the broker accepts)\n"
        "  --size S            payload bytes, padded up to S (default 0 = no "
        "pad)\n"
        "  --qos Q             QoS of property messages (0|1, default 0)\n"
        "  --duration SEC      publish for SEC seconds (default 5)\n"
        "  --count N           stop after N messages (0 = use --duration)\n"
        "  --prefix P          topic prefix (default holotwin/v1)\n"
        "  --id-prefix S       device ids are S%%05u (default lg-)\n"
        "  --id-base N         first device number (default 0)\n"
        "  --value time|counter  v = send time in us (default) or seq\n"
        "  --ack-commands      answer cmd/{name} like an agent (MQTT 5 "
        "response)\n"
        "  --register-only     register, wait --settle-ms (and --go-file),\n"
        "                      exit without publishing values\n"
        "  --no-register       skip TD/status (values only)\n"
        "  --deregister        publish an empty retained TD at exit\n"
        "  --settle-ms MS      pause between registration and values\n"
        "  --ready-file F      created once every device is registered\n"
        "  --go-file F         wait for F to exist before publishing values\n"
        "  --window W          max unacknowledged QoS 1 messages per device\n"
        "                      (default 1000)\n"
        "  --nagle             keep Nagle's algorithm (throughput runs: the\n"
        "                      broker reads many messages per segment);\n"
        "                      default TCP_NODELAY like the agents (latency)\n"
        "  --help, --version\n");
}

static int parse_uint(const char *s, unsigned long long max,
                      unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-')
        return HT_EINVAL;
    *out = v;
    return HT_OK;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0)
        return HT_EINVAL;
    *out = v;
    return HT_OK;
}

/* Parse argv into o; prints a one-line error and returns HT_EINVAL on bad
 * flags, 1 when --help/--version was handled. */
static int parse_args(int argc, char **argv, struct lg_opts *o)
{
    enum {
        O_DEV = 256,
        O_PROPS,
        O_RATE,
        O_SIZE,
        O_QOS,
        O_DUR,
        O_COUNT,
        O_PREFIX,
        O_IDP,
        O_IDB,
        O_VALUE,
        O_ACK,
        O_REGONLY,
        O_NOREG,
        O_DEREG,
        O_SETTLE,
        O_READY,
        O_GO,
        O_WINDOW,
        O_BROKER,
        O_VERSION,
        O_NAGLE
    };
    static const struct option lo[] = {
        {"broker", 1, 0, O_BROKER},     {"devices", 1, 0, O_DEV},
        {"props", 1, 0, O_PROPS},       {"rate", 1, 0, O_RATE},
        {"size", 1, 0, O_SIZE},         {"qos", 1, 0, O_QOS},
        {"duration", 1, 0, O_DUR},      {"count", 1, 0, O_COUNT},
        {"prefix", 1, 0, O_PREFIX},     {"id-prefix", 1, 0, O_IDP},
        {"id-base", 1, 0, O_IDB},       {"value", 1, 0, O_VALUE},
        {"ack-commands", 0, 0, O_ACK},  {"register-only", 0, 0, O_REGONLY},
        {"no-register", 0, 0, O_NOREG}, {"deregister", 0, 0, O_DEREG},
        {"settle-ms", 1, 0, O_SETTLE},  {"ready-file", 1, 0, O_READY},
        {"go-file", 1, 0, O_GO},        {"window", 1, 0, O_WINDOW},
        {"nagle", 0, 0, O_NAGLE},       {"help", 0, 0, 'h'},
        {"version", 0, 0, O_VERSION},   {0, 0, 0, 0},
    };
    unsigned long long u;
    int c, rc = HT_OK;
    ht_strlcpy(o->host, "127.0.0.1", sizeof o->host);
    o->port = 1883;
    o->devices = 10;
    o->props = 8;
    o->rate = 1000;
    o->duration = 5;
    o->prefix = HT_TOPIC_PREFIX_DEFAULT;
    o->id_prefix = "lg-";
    o->window = 1000;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 1;
        case O_VERSION:
            printf("loadgen %s\n", HT_VERSION);
            return 1;
        case O_BROKER:
            rc = ht_parse_hostport(optarg, o->host, sizeof o->host, &o->port);
            break;
        case O_DEV:
            rc = parse_uint(optarg, 10000, &u);
            o->devices = (unsigned)u;
            if (!u)
                rc = HT_EINVAL;
            break;
        case O_PROPS:
            rc = parse_uint(optarg, 64, &u);
            o->props = (unsigned)u;
            if (!u)
                rc = HT_EINVAL;
            break;
        case O_RATE:
            rc = parse_double(optarg, &o->rate);
            break;
        case O_SIZE:
            rc = parse_uint(optarg, LG_PAYLOAD_MAX - 1, &u);
            o->size = (unsigned)u;
            break;
        case O_QOS:
            rc = parse_uint(optarg, 1, &u);
            o->qos = (int)u;
            break;
        case O_DUR:
            rc = parse_double(optarg, &o->duration);
            break;
        case O_COUNT:
            rc = parse_uint(optarg, ULLONG_MAX, &u);
            o->count = u;
            break;
        case O_PREFIX:
            o->prefix = optarg;
            break;
        case O_IDP:
            o->id_prefix = optarg;
            break;
        case O_IDB:
            rc = parse_uint(optarg, 1000000, &u);
            o->id_base = (unsigned)u;
            break;
        case O_VALUE:
            if (!strcmp(optarg, "counter"))
                o->value_counter = true;
            else if (strcmp(optarg, "time"))
                rc = HT_EINVAL;
            break;
        case O_ACK:
            o->ack_commands = true;
            break;
        case O_NAGLE:
            o->nagle = true;
            break;
        case O_REGONLY:
            o->register_only = true;
            break;
        case O_NOREG:
            o->no_register = true;
            break;
        case O_DEREG:
            o->deregister = true;
            break;
        case O_SETTLE:
            rc = parse_uint(optarg, 3600000, &u);
            o->settle_ms = (unsigned)u;
            break;
        case O_READY:
            o->ready_file = optarg;
            break;
        case O_GO:
            o->go_file = optarg;
            break;
        case O_WINDOW:
            rc = parse_uint(optarg, 65535, &u);
            o->window = (unsigned)u;
            if (!u)
                rc = HT_EINVAL;
            break;
        default:
            fprintf(stderr,
                    "loadgen: unknown or incomplete option '%s' "
                    "(try --help)\n",
                    argv[optind - 1]);
            return HT_EINVAL;
        }
        if (rc) {
            fprintf(stderr, "loadgen: bad value '%s' (try --help)\n",
                    optarg ? optarg : "");
            return HT_EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loadgen: unexpected argument '%s'\n", argv[optind]);
        return HT_EINVAL;
    }
    /* Checked once here, so that no topic built later can fail. */
    if (!ht_topic_prefix_valid(o->prefix)) {
        fprintf(stderr,
                "loadgen: invalid --prefix '%s': a topic without "
                "wildcards or a trailing '/'\n",
                o->prefix);
        return HT_EINVAL;
    }
    char probe[HT_ID_MAX + 16];
    snprintf(probe, sizeof probe, "%s%05u", o->id_prefix,
             o->id_base + o->devices - 1);
    if (!ht_id_valid(probe)) {
        fprintf(stderr, "loadgen: --id-prefix gives invalid device id '%s'\n",
                probe);
        return HT_EINVAL;
    }
    if (o->no_register && o->register_only) {
        fprintf(stderr, "loadgen: --no-register and --register-only "
                        "exclude each other\n");
        return HT_EINVAL;
    }
    return HT_OK;
}

/* Keep the epoll registration of d in step with libmosquitto's wish to
 * write; EPOLLOUT is only set while there is something queued. */
static void dev_update_io(struct lg_dev *d)
{
    if (d->dead || d->fd < 0)
        return;
    unsigned want = EPOLLIN | (mosquitto_want_write(d->m) ? EPOLLOUT : 0);
    if (want == d->ev)
        return;
    struct epoll_event e = {.events = want, .data.ptr = d};
    epoll_ctl(d->lg->ep, d->ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, d->fd, &e);
    d->ev = want;
}

static void dev_kill(struct lg_dev *d, const char *why, int rc)
{
    if (d->dead)
        return;
    struct lg *lg = d->lg;
    if (!d->connected && lg->pending)
        lg->pending--;
    if (d->connected)
        lg->connected--;
    if (d->ev)
        epoll_ctl(lg->ep, EPOLL_CTL_DEL, d->fd, NULL);
    d->ev = 0;
    d->dead = true;
    d->connected = false;
    lg->lost++;
    if (lg->lost <= 5)
        fprintf(stderr, "loadgen: %s: %s (%s)\n", d->id, why,
                mosquitto_strerror(rc));
}

/* Minimal TD of K number properties through the same builder the agent
 * uses: p0 a writable setpoint (the command benchmark writes it), the rest
 * read-only observable sensors. */
static char *build_td(const struct lg *lg, const char *id)
{
    struct ht_sem_thing t = {0};
    char title[96], mqtt[300];
    struct ht_sem_prop props[64];
    char names[64][16];
    memset(props, 0, sizeof props);
    snprintf(title, sizeof title, "loadgen device %s", id);
    t.id = (char *)id;
    t.title = title;
    t.props = props;
    t.nprops = lg->o.props;
    for (unsigned i = 0; i < lg->o.props; i++) {
        snprintf(names[i], sizeof names[i], "p%u", i);
        props[i].name = names[i];
        props[i].title = names[i];
        props[i].dtype = HT_SEM_NUMBER;
        props[i].observable = true;
        props[i].read_only = i != 0;
        props[i].sem_type = i ? "ht:AnalogValue" : "ht:Setpoint";
    }
    snprintf(mqtt, sizeof mqtt, "mqtt://%s:%d", lg->o.host, lg->o.port);
    struct ht_sem_forms f = {
        .mqtt_base = mqtt, .topic_prefix = lg->o.prefix, .kind = "device"};
    json_t *td = ht_sem_td_build(&t, &f);
    char *s = td ? json_dumps(td, JSON_COMPACT) : NULL;
    json_decref(td);
    return s;
}

static int publish_status(struct lg_dev *d, const char *state)
{
    char topic[HT_TOPIC_MAX], body[96];
    ht_topic_build(topic, sizeof topic, d->lg->o.prefix, HT_TOPIC_DEV_STATUS,
                   d->id, NULL);
    int n = snprintf(body, sizeof body, "{\"state\":\"%s\",\"ts\":%lld}", state,
                     (long long)ht_time_ms());
    return mosquitto_publish_v5(d->m, NULL, topic, n, body, 1, true, NULL);
}

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)flags;
    (void)props;
    struct lg_dev *d = ud;
    struct lg *lg = d->lg;
    if (rc) {
        fprintf(stderr, "loadgen: %s refused: %s\n", d->id,
                mosquitto_reason_string(rc));
        return;
    }
    if (d->connected)
        return;
    d->connected = true;
    lg->pending--;
    lg->connected++;
    if (lg->connected == lg->o.devices)
        lg->t_connected = now_ns();
    if (lg->o.ack_commands) {
        char topic[HT_TOPIC_MAX];
        ht_topic_filter(topic, sizeof topic, lg->o.prefix, HT_TOPIC_DEV_CMD,
                        d->id);
        mosquitto_subscribe_v5(m, NULL, topic, 1, 0, NULL);
    }
    if (lg->o.no_register) {
        d->registered = true;
        lg->registered++;
        return;
    }
    char topic[HT_TOPIC_MAX];
    char *td = build_td(lg, d->id);
    ht_topic_build(topic, sizeof topic, lg->o.prefix, HT_TOPIC_DEV_TD, d->id,
                   NULL);
    int prc = td ? mosquitto_publish_v5(m, &d->td_mid, topic, (int)strlen(td),
                                        td, 1, true, NULL)
                 : MOSQ_ERR_NOMEM;
    free(td);
    if (prc == MOSQ_ERR_SUCCESS)
        prc = publish_status(d, "online");
    if (prc != MOSQ_ERR_SUCCESS)
        fprintf(stderr, "loadgen: %s: register: %s\n", d->id,
                mosquitto_strerror(prc));
}

static void on_publish(struct mosquitto *m, void *ud, int mid, int reason,
                       const mosquitto_property *props)
{
    (void)m;
    (void)props;
    (void)reason;
    struct lg_dev *d = ud;
    struct lg *lg = d->lg;
    if (!d->registered && mid == d->td_mid) {
        d->registered = true;
        if (++lg->registered == lg->o.devices)
            lg->t_registered = now_ns();
        return;
    }
    if (d->outstanding) {
        d->outstanding--;
        lg->acked++;
    }
}

/* Answer a command the way device-agent does: echo the value as accepted,
 * on the MQTT 5 response topic with the request's correlation data. */
static void on_message(struct mosquitto *m, void *ud,
                       const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    struct lg_dev *d = ud;
    struct lg *lg = d->lg;
    char *rtopic = NULL;
    void *corr = NULL;
    uint16_t corrlen = 0;
    mosquitto_property *out = NULL;
    char *body = NULL;
    json_t *req = NULL;
    mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &rtopic,
                                   false);
    mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr,
                                   &corrlen, false);
    if (!rtopic) {
        lg->cmd_errors++;
        goto out;
    }
    json_error_t je;
    req = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, &je);
    json_t *v = json_is_object(req) ? json_object_get(req, "v") : NULL;
    json_t *ans;
    if (v)
        ans = json_pack("{s:b, s:O, s:I}", "ok", 1, "v", v, "ts",
                        (json_int_t)ht_time_ms());
    else
        ans = json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code",
                        "bad_request", "message", "no \"v\" in command");
    body = json_dumps(ans, JSON_COMPACT);
    json_decref(ans);
    if (corr)
        mosquitto_property_add_binary(&out, MQTT_PROP_CORRELATION_DATA, corr,
                                      corrlen);
    if (mosquitto_publish_v5(m, NULL, rtopic, (int)strlen(body), body, 1, false,
                             out) == MOSQ_ERR_SUCCESS)
        lg->commands++;
    else
        lg->cmd_errors++;
out:
    json_decref(req);
    free(body);
    free(rtopic);
    free(corr);
    mosquitto_property_free_all(&out);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc,
                          const mosquitto_property *props)
{
    (void)m;
    (void)props;
    struct lg_dev *d = ud;
    if (!d->lg->stop)
        dev_kill(d, "disconnected", rc);
}

static int dev_init(struct lg *lg, struct lg_dev *d, unsigned idx)
{
    d->lg = lg;
    d->idx = idx;
    d->fd = -1;
    snprintf(d->id, sizeof d->id, "%s%05u", lg->o.id_prefix,
             lg->o.id_base + idx);
    d->m = mosquitto_new(d->id, true, d);
    if (!d->m)
        return -errno;
    mosquitto_int_option(d->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(d->m, MOSQ_OPT_TCP_NODELAY, lg->o.nagle ? 0 : 1);
    mosquitto_connect_v5_callback_set(d->m, on_connect);
    mosquitto_publish_v5_callback_set(d->m, on_publish);
    mosquitto_message_v5_callback_set(d->m, on_message);
    mosquitto_disconnect_v5_callback_set(d->m, on_disconnect);
    if (!lg->o.no_register) {
        char topic[HT_TOPIC_MAX];
        const char *off = "{\"state\":\"offline\",\"ts\":0}";
        ht_topic_build(topic, sizeof topic, lg->o.prefix, HT_TOPIC_DEV_STATUS,
                       d->id, NULL);
        mosquitto_will_set_v5(d->m, topic, (int)strlen(off), off, 1, true,
                              NULL);
    }
    return HT_OK;
}

/* Start the next connects, at most LG_PENDING_MAX awaiting CONNACK so the
 * broker's listen backlog never overflows (a dropped SYN costs 1 s). */
static void connect_more(struct lg *lg)
{
    while (lg->next_connect < lg->o.devices && lg->pending < LG_PENDING_MAX) {
        struct lg_dev *d = &lg->devs[lg->next_connect++];
        lg->pending++; /* before: a failing connect may call back dev_kill */
        int rc = mosquitto_connect_bind_v5(d->m, lg->o.host, lg->o.port, 60,
                                           NULL, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            dev_kill(d, "connect", rc);
            continue;
        }
        d->fd = mosquitto_socket(d->m);
        dev_update_io(d);
    }
}

static void handle_io(struct lg_dev *d, unsigned events)
{
    int rc = MOSQ_ERR_SUCCESS;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        rc = mosquitto_loop_read(d->m, 64);
    if (rc == MOSQ_ERR_SUCCESS && (events & EPOLLOUT))
        rc = mosquitto_loop_write(d->m, 64);
    if (rc != MOSQ_ERR_SUCCESS) {
        dev_kill(d, "connection lost", rc);
        return;
    }
    dev_update_io(d);
}

static int make_payload(struct lg *lg, struct lg_dev *d, char *buf)
{
    uint64_t t0 = now_ns();
    unsigned long long v = lg->o.value_counter ? d->seq : t0 / 1000;
    int n = snprintf(buf, LG_PAYLOAD_MAX,
                     "{\"v\":%llu,\"ts\":%lld,\"seq\":%u,\"t0\":%llu", v,
                     (long long)ht_time_ms(), d->seq, (unsigned long long)t0);
    /* ,"pad":"" is 9 bytes plus the closing brace */
    if (lg->o.size > (unsigned)n + 10) {
        unsigned pad = lg->o.size - (unsigned)n - 10;
        memcpy(buf + n, ",\"pad\":\"", 8);
        n += 8;
        memset(buf + n, 'x', pad);
        n += (int)pad;
        buf[n++] = '"';
    }
    buf[n++] = '}';
    buf[n] = '\0';
    return n;
}

/* Pick the next device able to take a message (round robin). */
static struct lg_dev *next_ready(struct lg *lg)
{
    for (unsigned tries = 0; tries < lg->o.devices; tries++) {
        struct lg_dev *d = &lg->devs[lg->next_dev];
        lg->next_dev = (lg->next_dev + 1) % lg->o.devices;
        if (!d->connected || d->dead)
            continue;
        if (lg->o.qos && d->outstanding >= lg->o.window)
            continue;
        /* flat out: never queue behind a full socket */
        if (lg->o.rate == 0 && mosquitto_want_write(d->m))
            continue;
        return d;
    }
    return NULL;
}

static bool publish_one(struct lg *lg)
{
    struct lg_dev *d = next_ready(lg);
    if (!d)
        return false;
    char topic[HT_TOPIC_MAX], name[16];
    unsigned p = d->next_prop;
    d->next_prop = (d->next_prop + 1) % lg->o.props;
    snprintf(name, sizeof name, "p%u", p);
    ht_topic_build(topic, sizeof topic, lg->o.prefix, HT_TOPIC_DEV_PROP, d->id,
                   name);
    int n = make_payload(lg, d, lg->payload);
    int rc = mosquitto_publish_v5(d->m, NULL, topic, n, lg->payload, lg->o.qos,
                                  false, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        lg->pub_errors++;
        if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST)
            dev_kill(d, "publish", rc);
        return false;
    }
    d->seq++;
    if (lg->o.qos)
        d->outstanding++;
    lg->sent++;
    dev_update_io(d);
    return true;
}

/* Publish what is due at time t (ns); returns how many us the loop may
 * sleep before the next message is due. */
static int64_t publish_due(struct lg *lg, uint64_t t)
{
    uint64_t want;
    if (lg->o.rate > 0) {
        double el = (double)(t - lg->t_pub0) / 1e9;
        want = (uint64_t)(el * lg->o.rate);
    } else {
        want = lg->sent + LG_BATCH_MAX;
    }
    if (lg->o.count && want > lg->o.count)
        want = lg->o.count;
    unsigned n = 0;
    while (lg->sent < want && n < LG_BATCH_MAX && publish_one(lg))
        n++;
    if (lg->sent < want)
        return n ? 0 : 200; /* all blocked: EPOLLOUT wakes us */
    if (lg->o.rate <= 0)
        return 0;
    /* sleep (epoll_pwait2, us resolution) until the next message is due:
     * evenly spaced sends, no bursts, no core spinning next to the broker
     * and the receiver */
    double next = (double)(lg->sent + 1) / lg->o.rate * 1e9;
    double wait_ns = next - (double)(t - lg->t_pub0);
    if (wait_ns <= 0)
        return 0;
    /* at most ~4,000 wake-ups/s: above that, send small bursts */
    return wait_ns < 250e3 ? 250 : (int64_t)(wait_ns / 1e3);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

static void loop_misc_all(struct lg *lg)
{
    for (unsigned i = 0; i < lg->o.devices; i++) {
        struct lg_dev *d = &lg->devs[i];
        if (d->connected && !d->dead) {
            mosquitto_loop_misc(d->m);
            dev_update_io(d);
        }
    }
}

/* One loop iteration: wait up to timeout_us, dispatch. */
static void run_once(struct lg *lg, int64_t timeout_us)
{
    struct epoll_event evs[256];
    struct timespec ts = {.tv_sec = timeout_us / 1000000,
                          .tv_nsec = (timeout_us % 1000000) * 1000};
    int n = epoll_pwait2(lg->ep, evs, 256, &ts, NULL);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == NULL) {
            struct signalfd_siginfo si;
            if (read(lg->sfd, &si, sizeof si) > 0) {
                if (lg->stop)
                    exit(3); /* second signal: give up draining */
                lg->stop = true;
            }
            continue;
        }
        handle_io(evs[i].data.ptr, evs[i].events);
    }
}

enum phase { PH_CONNECT, PH_SETTLE, PH_GO, PH_PUBLISH, PH_DRAIN, PH_DONE };

static bool drained(const struct lg *lg)
{
    for (unsigned i = 0; i < lg->o.devices; i++) {
        const struct lg_dev *d = &lg->devs[i];
        if (d->connected && !d->dead &&
            (d->outstanding || mosquitto_want_write(d->m)))
            return false;
    }
    return true;
}

static void run(struct lg *lg)
{
    enum phase ph = PH_CONNECT;
    uint64_t t_misc = now_ns(), t_phase = 0;
    lg->t_start = now_ns();
    while (ph != PH_DONE) {
        uint64_t t = now_ns();
        int64_t timeout = 10000; /* us */
        if (t - t_misc > 1000000000u) {
            loop_misc_all(lg);
            t_misc = t;
        }
        if (lg->stop && ph < PH_DRAIN) {
            ph = PH_DRAIN;
            t_phase = t;
        }
        switch (ph) {
        case PH_CONNECT:
            connect_more(lg);
            /* a listener that never answers CONNECT must not hang us */
            if (t - lg->t_start > LG_CONNECT_TIMEOUT_S * 1000000000ull &&
                lg->registered < lg->o.devices) {
                fprintf(stderr,
                        "loadgen: registration timed out after "
                        "%d s\n",
                        LG_CONNECT_TIMEOUT_S);
                lg->stop = true;
                break;
            }
            if (lg->registered + lg->lost >= lg->o.devices &&
                lg->next_connect >= lg->o.devices) {
                if (lg->registered < lg->o.devices && !lg->t_registered)
                    lg->t_registered = t;
                fprintf(stderr,
                        "loadgen: %u/%u devices registered in "
                        "%.0f ms\n",
                        lg->registered, lg->o.devices,
                        (double)(lg->t_registered - lg->t_start) / 1e6);
                if (lg->o.ready_file)
                    touch(lg->o.ready_file);
                ph = PH_SETTLE;
                t_phase = t;
            }
            break;
        case PH_SETTLE:
            if (t - t_phase >= (uint64_t)lg->o.settle_ms * 1000000u) {
                ph = PH_GO;
                t_phase = t;
            }
            break;
        case PH_GO:
            /* --register-only with --go-file: stay connected (online)
             * until the driver has measured what it wanted */
            if (!lg->o.go_file || access(lg->o.go_file, F_OK) == 0) {
                ph = lg->o.register_only ? PH_DRAIN : PH_PUBLISH;
                lg->t_pub0 = t;
                t_phase = t;
                timeout = 0;
            }
            break;
        case PH_PUBLISH:
            if ((lg->o.count && lg->sent >= lg->o.count) ||
                (!lg->o.count &&
                 (double)(t - lg->t_pub0) / 1e9 >= lg->o.duration) ||
                lg->connected == 0) {
                lg->t_pub1 = t;
                ph = PH_DRAIN;
                t_phase = t;
                break;
            }
            timeout = publish_due(lg, t);
            if (timeout > 1000)
                timeout = 1000;
            break;
        case PH_DRAIN:
            if (!lg->t_pub1)
                lg->t_pub1 = t;
            if (drained(lg) || t - t_phase > LG_DRAIN_MS * 1000000ull)
                ph = PH_DONE;
            timeout = 1000;
            break;
        case PH_DONE:
            break;
        }
        if (ph != PH_DONE)
            run_once(lg, timeout);
    }
}

/* Say goodbye like an agent: offline status (or an empty TD), DISCONNECT,
 * and give the sockets a moment to flush. */
static void shutdown_all(struct lg *lg)
{
    lg->stop = true;
    for (unsigned i = 0; i < lg->o.devices; i++) {
        struct lg_dev *d = &lg->devs[i];
        if (!d->connected || d->dead)
            continue;
        if (lg->o.deregister) {
            char topic[HT_TOPIC_MAX];
            ht_topic_build(topic, sizeof topic, lg->o.prefix, HT_TOPIC_DEV_TD,
                           d->id, NULL);
            mosquitto_publish_v5(d->m, NULL, topic, 0, NULL, 1, true, NULL);
        }
        if (!lg->o.no_register)
            publish_status(d, "offline");
        mosquitto_disconnect_v5(d->m, 0, NULL);
        dev_update_io(d);
    }
    uint64_t t0 = now_ns();
    while (now_ns() - t0 < 2000000000ull) {
        bool busy = false;
        for (unsigned i = 0; i < lg->o.devices && !busy; i++) {
            struct lg_dev *d = &lg->devs[i];
            busy = d->connected && !d->dead && mosquitto_want_write(d->m);
        }
        if (!busy)
            break;
        run_once(lg, 10000);
    }
}

static void print_summary(const struct lg *lg)
{
    double pub_s = lg->t_pub1 > lg->t_pub0 && lg->t_pub0
                       ? (double)(lg->t_pub1 - lg->t_pub0) / 1e9
                       : 0;
    json_t *o = json_pack(
        "{s:s, s:i, s:i, s:i, s:i, s:f, s:i, s:i, s:I, s:I, s:I, s:I, s:I,"
        " s:f, s:f, s:f, s:f, s:I, s:I}",
        "tool", "loadgen", "devices", (int)lg->o.devices, "connected",
        (int)lg->connected, "registered", (int)lg->registered, "props",
        (int)lg->o.props, "rate_target", lg->o.rate, "qos", lg->o.qos, "size",
        (int)lg->o.size, "sent", (json_int_t)lg->sent, "acked",
        (json_int_t)lg->acked, "publish_errors", (json_int_t)lg->pub_errors,
        "lost_connections", (json_int_t)lg->lost, "pending_acks",
        (json_int_t)(lg->o.qos ? lg->sent - lg->acked : 0), "publish_s", pub_s,
        "rate_achieved", pub_s > 0 ? (double)lg->sent / pub_s : 0.0,
        "connect_ms",
        lg->t_connected ? (double)(lg->t_connected - lg->t_start) / 1e6 : -1.0,
        "register_ms",
        lg->t_registered ? (double)(lg->t_registered - lg->t_start) / 1e6
                         : -1.0,
        "commands_acked", (json_int_t)lg->commands, "command_errors",
        (json_int_t)lg->cmd_errors);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(o);
}

/* Every simulated agent costs 3 fds: its socket and the socket pair that
 * mosquitto_new() opens for threaded wake-ups. Raise the soft limit to
 * what is needed; where the hard limit is lower (no CAP_SYS_RESOURCE),
 * refuse clearly rather than fail half-way. Returns HT_OK or HT_ERANGE. */
static int raise_nofile(unsigned devices)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)devices * 3 + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return HT_OK;
    if (rl.rlim_cur >= need)
        return HT_OK;
    struct rlimit nl = {need, rl.rlim_max > need ? rl.rlim_max : need};
    if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
        return HT_OK;
    fprintf(stderr,
            "loadgen: %u devices need %llu file descriptors but "
            "the limit is %llu: run several loadgen processes with "
            "--id-base\n",
            devices, (unsigned long long)need, (unsigned long long)rl.rlim_max);
    return HT_ERANGE;
}

int main(int argc, char **argv)
{
    struct lg lg;
    memset(&lg, 0, sizeof lg);
    int rc = parse_args(argc, argv, &lg.o);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (raise_nofile(lg.o.devices))
        return 2;
    /* the default 50 us timer slack would blur 100 us send spacing */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGTERM);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    lg.sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
    lg.ep = epoll_create1(EPOLL_CLOEXEC);
    if (lg.sfd < 0 || lg.ep < 0) {
        perror("loadgen: epoll/signalfd");
        return 1;
    }
    struct epoll_event se = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(lg.ep, EPOLL_CTL_ADD, lg.sfd, &se);
    mosquitto_lib_init();
    lg.payload = ht_malloc(LG_PAYLOAD_MAX + 1);
    lg.devs = ht_calloc(lg.o.devices, sizeof *lg.devs);
    for (unsigned i = 0; i < lg.o.devices; i++) {
        if (dev_init(&lg, &lg.devs[i], i)) {
            perror("loadgen: mosquitto_new");
            return 1;
        }
    }
    run(&lg);
    shutdown_all(&lg);
    print_summary(&lg);
    for (unsigned i = 0; i < lg.o.devices; i++)
        mosquitto_destroy(lg.devs[i].m);
    free(lg.devs);
    free(lg.payload);
    close(lg.ep);
    close(lg.sfd);
    mosquitto_lib_cleanup();
    return lg.connected || lg.o.devices == 0 ? 0 : 1;
}
