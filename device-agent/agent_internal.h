/* agent_internal.h - shared between the device agent's own files only:
 * the agent's state and the entry points of the simulated board and its
 * control socket (sim.c), the TD endpoint (http.c) and mDNS (mdns.c). The
 * capability runtime has its own header, caps_internal.h. Loop thread
 * only.
 */
#ifndef HT_AGENT_INTERNAL_H
#define HT_AGENT_INTERNAL_H

#include "agent.h"
#include "caps_internal.h"

#include "hal/analog.h"
#include "hal/gpio.h"
#include "ht_mqtt.h"
#include "ht_topic.h"

struct ring_entry {
    char *topic;
    char *payload;
    size_t len;
    size_t idx; /* the property's capability index */
    uint64_t seq;
};

/* The latest published value of one property, kept for snapshots. */
struct prop_last {
    char *payload; /* {"v","ts","seq"} as first published, or NULL */
    uint64_t seq;
    unsigned sent_conn; /* connection (conn_no) it reached the broker on */
};

/* Command ids remembered with their acks (at least 256, see api.md). */
#define AGENT_CMD_IDS 256

#define AGENT_CORR_CACHE 64

struct corr_entry {
    void *corr;
    size_t len;
    char *ack; /* serialized ack */
};

struct ht_ctl;
struct agent_http;
struct agent_mdns;

struct ht_agent {
    struct ht_loop *loop;
    const struct ht_agent_conf *conf;
    struct ht_sem_thing *thing;
    json_t *td;
    char *td_text;
    struct ht_gpio *gpio;
    struct ht_analog *analog; /* NULL: the board has no analog channels */
    bool sim;
    struct caps *caps;
    uint64_t seq;

    struct ht_mqtt *mqtt;
    char *broker_host;
    int broker_port;
    /* Built once with ht_topic; topic_cmd is the "cmd/+" filter. */
    char topic_td[HT_TOPIC_MAX], topic_status[HT_TOPIC_MAX];
    char topic_cmd[HT_TOPIC_MAX], topic_sync[HT_TOPIC_MAX];
    char topic_sync_all[HT_TOPIC_MAX];
    unsigned conn_no; /* connections so far */
    bool shutting_down;

    struct ring_entry *ring;
    size_t ring_size, ring_head, ring_count;
    uint64_t dropped, dropped_reported;

    struct corr_entry corr[AGENT_CORR_CACHE];
    size_t corr_next;
    struct ht_agent_ids *ids;

    struct prop_last *last; /* per capability */
    struct ht_timer *snap_tm;
    bool snap_due, snap_full;

    ht_agent_emit_cb emit_cb;
    void *emit_ud;

    struct ht_ctl *ctl;
    struct agent_http *http;
    struct agent_mdns *mdns;
};

/* ---- agent.c ---- */
/* A broker found by mDNS: connect to it (once). */
void agent__broker_found(struct ht_agent *a, const char *host, int port);

/* ---- sim.c ---- */
/* The simulated board of conf: a sim GPIO chip of conf->lines lines and
 * the plant of conf->plant behind the analog HAL (channels are capability
 * indexes). conf borrowed, must outlive both; *gpio and *analog new.
 * HT_OK or a negative code with err ("file:line:col: ..." for the plant
 * section). */
int agent__sim_board_new(struct ht_loop *l, const struct ht_agent_conf *conf,
                         struct ht_gpio **gpio, struct ht_analog **analog,
                         char *err, size_t errlen);
/* The sim control socket at path (see docs/device-agent.md) driving caps'
 * lines on sim chip g and plant's parameters; all borrowed, must outlive
 * it. *out new. */
int agent__ctl_new(struct ht_loop *l, struct caps *caps, struct ht_gpio *g,
                   struct ht_analog *plant, const char *path,
                   struct ht_ctl **out, char *err, size_t errlen);
void agent__ctl_free(struct ht_ctl *c);
/* Execute one control line; the reply (new string). */
char *agent__ctl_exec(struct ht_ctl *ctl, const char *line);

/* ---- http.c ---- */
int agent__http_new(struct ht_agent *a, const char *bind, int port,
                    struct agent_http **out, char *err, size_t errlen);
int agent__http_port(const struct agent_http *h);
void agent__http_free(struct agent_http *h);

/* ---- mdns.c ---- */
/* Publish _wot._tcp for http_port (0: none) and, when browse is true,
 * look for _mqtt._tcp. Never fails because the daemon is missing. */
int agent__mdns_new(struct ht_agent *a, const char *name, int http_port,
                    bool browse, struct agent_mdns **out);
void agent__mdns_free(struct agent_mdns *m);

#endif
