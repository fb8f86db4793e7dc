/* agent_internal.h - shared between the device agent's own files only:
 * the runtime state of capabilities and of the agent, and the entry points
 * of the capability runtime (caps.c), the sim plant and control socket
 * (sim.c), the TD endpoint (http.c) and mDNS (mdns.c). Loop thread only.
 */
#ifndef HT_AGENT_INTERNAL_H
#define HT_AGENT_INTERNAL_H

#include "agent.h"

#include "ht_mqtt.h"
#include "hal/gpio.h"

/* Runtime state of one capability. */
struct cap {
    struct ht_agent *a;
    const struct ht_cap_conf *c; /* borrowed from the agent's conf */
    const struct ht_sem_prop *prop;
    struct ht_io *io, *io_b;
    struct ht_timer *tm;     /* debounce, counter window or poll period */
    struct ht_timer *pub_tm; /* publish policy (min/max interval) */
    json_t *value;           /* latest value (new ref) or NULL */
    json_t *last_pub;        /* last published value */
    uint64_t last_pub_ms;    /* loop time of the last publish */
    json_t *pending;         /* held back by min_interval */
    int64_t pending_ts;
    /* digital input */
    int stable;
    int64_t edge_ts;
    /* counter */
    uint64_t count;
    uint64_t first_ns, last_ns, prev_ns;
    unsigned idle_windows;
    /* encoder */
    unsigned qstate;
    long accum;
    int level_a, level_b;
    /* analog */
    bool warned;
};

struct ring_entry {
    char *topic;
    char *payload;
    size_t len;
};

#define AGENT_CORR_CACHE 64

struct corr_entry {
    void *corr;
    size_t len;
    char *ack; /* serialized ack */
};

struct ht_plant;
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
    bool sim;
    struct cap *caps;
    size_t ncaps;
    uint64_t seq;

    struct ht_mqtt *mqtt;
    char *broker_host;
    int broker_port;
    char *topic_td, *topic_status, *topic_cmd, *topic_props;
    bool shutting_down;

    struct ring_entry *ring;
    size_t ring_size, ring_head, ring_count;
    uint64_t dropped, dropped_reported;

    struct corr_entry corr[AGENT_CORR_CACHE];
    size_t corr_next;

    ht_agent_emit_cb emit_cb;
    void *emit_ud;

    struct ht_plant *plant;
    struct ht_ctl *ctl;
    struct agent_http *http;
    struct agent_mdns *mdns;
};

/* ---- caps.c ---- */
/* Request lines and start timers for every capability. */
int agent__caps_start(struct ht_agent *a, char *err, size_t errlen);
/* Apply safe values, stop timers, release watchers. */
void agent__caps_stop(struct ht_agent *a, bool apply_safe);
struct cap *agent__cap_find(struct ht_agent *a, const char *name);
/* A new value of cap (taken) observed at wall time ts_ms: applies the
 * publish policy. */
void agent__cap_update(struct cap *cap, json_t *v, int64_t ts_ms);
/* Write a command value (borrowed, already checked). Returns the value read
 * back (new) or NULL with *code set to "hw_error". */
json_t *agent__cap_write(struct cap *cap, const json_t *v, const char **code,
                         char *msg, size_t msglen);
/* Read an analog capability now (poll tick; also used by tests). */
void agent__cap_poll(struct cap *cap);
/* Convert a CLOCK_MONOTONIC ns event time to wall-clock ms. */
int64_t agent__wall_ms(uint64_t mono_ns);

/* ---- agent.c ---- */
/* Emit a property value (publish or queue in the ring). v borrowed. */
void agent__emit(struct ht_agent *a, const char *name, const json_t *v,
                 int64_t ts_ms);
/* A broker found by mDNS: connect to it (once). */
void agent__broker_found(struct ht_agent *a, const char *host, int port);

/* ---- sim.c ---- */
int agent__plant_new(struct ht_agent *a, const json_t *plant,
                     struct ht_plant **out, char *err, size_t errlen);
/* A capability the plant listens to changed (outputs, setpoints). */
void agent__plant_notify(struct ht_plant *p, const char *name, double v);
/* Value of a sim sensor (analog "sim": true). HT_ENOENT if none. */
int agent__plant_read(struct ht_plant *p, const char *name, double *v);
/* Set a plant parameter by name (control socket "param"). */
int agent__plant_param(struct ht_plant *p, const char *name, double v);
void agent__plant_free(struct ht_plant *p);
/* The sim control socket at path (see docs/device-agent.md). */
int agent__ctl_new(struct ht_agent *a, const char *path, struct ht_ctl **out,
                   char *err, size_t errlen);
void agent__ctl_free(struct ht_ctl *c);
/* Execute one control line (also used by unit tests); reply new string. */
char *agent__ctl_exec(struct ht_agent *a, const char *line);

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
