/* agent.h - the device agent: configuration, capabilities on GPIO and
 * sysfs, the simulated plant, MQTT registration and commands, the HTTP TD
 * endpoint and mDNS. main.c only wires these together.
 *
 * Everything runs on one ht_loop (loop thread only).
 */
#ifndef HT_AGENT_H
#define HT_AGENT_H

#include "ht_loop.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "semantics/semantics.h"

/* ---- configuration ---- */

enum ht_cap_kind {
    HT_CAP_INPUT,    /* digital input: button, switch, presence */
    HT_CAP_OUTPUT,   /* digital output: lamp, relay, motor enable, heater */
    HT_CAP_COUNTER,  /* pulse counter -> rate (tachometer, flow meter) */
    HT_CAP_ENCODER,  /* quadrature encoder on two lines -> position */
    HT_CAP_ANALOG,   /* sysfs value polled at a period (or the sim plant) */
    HT_CAP_SETPOINT, /* a writable value held by the agent (drives the plant) */
};

enum ht_analog_fmt {
    HT_ANALOG_W1_SLAVE, /* 1-Wire w1_slave: "... t=23125" (milli-degrees) */
    HT_ANALOG_MILLI,    /* one integer in thousandths (w1 temperature, hwmon) */
    HT_ANALOG_RAW,      /* one number: v * scale + offset */
    HT_ANALOG_IIO,      /* IIO in_*_raw: (raw + iio offset) * scale(_path) */
};

/* One capability of the board (all strings owned). */
struct ht_cap_conf {
    char *name;
    char *title;
    char *sem_type;
    char *unit;
    enum ht_cap_kind kind;
    enum ht_sem_dtype dtype;
    bool read_only;
    bool has_min, has_max, has_step;
    double min, max, step;
    char **enum_vals; /* NULL-terminated or NULL */

    unsigned line, line_b; /* line_b: encoder's B line */
    unsigned flags;        /* HT_GPIO_ACTIVE_LOW | HT_GPIO_BIAS_* */
    unsigned debounce_ms;
    int initial;          /* outputs: initial level */
    int safe;             /* outputs: level applied on exit, -1 = leave as is */
    double initial_value; /* setpoints */
    unsigned window_ms;   /* counters */
    double ppr;           /* counters: pulses per unit (per revolution) */
    double scale;         /* counters: per-second -> unit (60 for rpm);
                             analog: multiplier */
    double offset;        /* analog */
    int divider;          /* encoders: transitions per step (4) */
    char *path;           /* analog: sysfs file */
    char *scale_path;     /* analog IIO: in_*_scale file */
    enum ht_analog_fmt format;
    unsigned period_ms; /* analog poll period */
    bool sim;           /* analog: value from the sim plant */
    int decimals;       /* analog/counter rounding, -1 = none */

    /* publish policy */
    double deadband;
    unsigned min_interval_ms;
    unsigned max_interval_ms;
};

struct ht_agent_conf {
    /* Table-driven part (ht_conf). */
    char *id;
    char *title;
    char *description;
    char *broker; /* "host:port"; NULL = find one with mDNS */
    char *username;
    char *password;
    char *cafile;
    char *ca_pem; /* CA certificate text (mqtt.ca) */
    char *certfile;
    char *keyfile;
    char *prefix;
    int keepalive;
    int reconnect_max_ms;
    int value_qos;
    char *backend; /* "sim" or "gpiod" */
    char *chip;
    int lines;     /* sim: number of lines */
    int http_port; /* 0 = disabled (ephemeral port when mDNS is on) */
    char *http_bind;
    bool mdns;
    char *mdns_name;
    int ring_size;
    char *control; /* sim control socket path */
    char *log_level;

    /* The capabilities array. */
    struct ht_cap_conf *caps;
    size_t ncaps;
    /* The "plant" section (sim), new reference or NULL. */
    json_t *plant;
    /* Where it came from, for messages ("(built-in)" for the demo board). */
    char *path;
};

/* The ht_conf table of the agent (for --help and dumps). Static. */
const struct ht_conf_key *ht_agent_conf_table(void);
/* Defaults only (no capabilities). conf is caller storage. */
void ht_agent_conf_init(struct ht_agent_conf *conf);
/* Load path into conf (after ht_agent_conf_init). On error err gets
 * "path:line:col: message" and a negative code is returned. */
int ht_agent_conf_load(struct ht_agent_conf *conf, const char *path, char *err,
                       size_t errlen);
/* The built-in demo board of `device-agent --sim` (no config file). */
int ht_agent_conf_demo(struct ht_agent_conf *conf, char *err, size_t errlen);
/* Cross-field checks after flags were applied (id valid, backend known).
 * err gets a one-line message. */
int ht_agent_conf_check(const struct ht_agent_conf *conf, char *err,
                        size_t errlen);
/* Free everything conf owns; conf can be initialised again. */
void ht_agent_conf_clear(struct ht_agent_conf *conf);
/* The semantic model of the board (new; free with ht_sem_thing_free). */
struct ht_sem_thing *ht_agent_conf_thing(const struct ht_agent_conf *conf);

/* ---- the agent ---- */

struct ht_agent;
struct ht_gpio;

/* Build the agent on loop l: open the GPIO backend, request every line,
 * start the capability timers and, for the sim backend, the plant. conf is
 * borrowed and must outlive the agent. Network parts start with
 * ht_agent_start. *out new. Returns HT_OK or a negative code with err. */
int ht_agent_new(struct ht_loop *l, const struct ht_agent_conf *conf,
                 struct ht_agent **out, char *err, size_t errlen);
/* Start MQTT (or the mDNS broker search), HTTP and mDNS. */
int ht_agent_start(struct ht_agent *a, char *err, size_t errlen);
/* Begin a clean stop: safe output values, status offline, MQTT disconnect,
 * mDNS withdrawn. Calls ht_loop_stop once done. */
void ht_agent_shutdown(struct ht_agent *a);
/* Free (NULL no-op). */
void ht_agent_free(struct ht_agent *a);

/* --deregister: connect with conf's broker settings, publish the empty
 * retained TD and status, wait (10 s at most) for the broker's acks. Runs
 * loop l itself and touches no hardware. HT_OK or a negative code + err. */
int ht_agent_deregister(struct ht_loop *l, const struct ht_agent_conf *conf,
                        char *err, size_t errlen);

/* Handle one command as if it came from MQTT: name, payload (borrowed),
 * correlation id (borrowed, may be NULL). A command whose "id" or
 * correlation id was seen recently is not applied and gets its first ack;
 * one past its "deadline" (wall clock) is not applied and gets "expired".
 * Returns the ack document (new). */
json_t *ht_agent_command(struct ht_agent *a, const char *name,
                         const void *payload, size_t len, const void *corr,
                         size_t corrlen);

/* Observer of every property value the agent emits (tests, metrics):
 * name and v borrowed for the call. NULL clears. */
typedef void (*ht_agent_emit_cb)(void *ud, const char *name, const json_t *v,
                                 int64_t ts_ms, uint64_t seq);
void ht_agent_on_emit(struct ht_agent *a, ht_agent_emit_cb cb, void *ud);

/* The current TD (borrowed, rebuilt when the HTTP port is known). */
const json_t *ht_agent_td(const struct ht_agent *a);
/* The GPIO backend (borrowed; tests use the sim hooks on it). */
struct ht_gpio *ht_agent_gpio(struct ht_agent *a);
/* Current value of a capability (new reference) or NULL. */
json_t *ht_agent_value(const struct ht_agent *a, const char *name);
/* Values dropped by the offline ring so far, and values queued in it. */
uint64_t ht_agent_dropped(const struct ht_agent *a);
size_t ht_agent_queued(const struct ht_agent *a);
/* Port of the HTTP TD endpoint, 0 if disabled. */
int ht_agent_http_port(const struct ht_agent *a);

/* ---- pure helpers (exposed for unit tests) ---- */

/* Parse a sysfs reading in fmt; scale/offset applied. HT_OK, HT_EPARSE. */
int ht_agent_parse_analog(const char *text, enum ht_analog_fmt fmt,
                          double scale, double offset, double *out);
/* Quadrature step for the 2-bit state change prev -> cur ((A<<1)|B):
 * +1, -1, or 0 (no change or an invalid double step). */
int ht_agent_quad_step(unsigned prev, unsigned cur);

/* ---- command ids (exposed for unit tests) ---- */

/* True for a command id the protocol accepts: 1-64 of [A-Za-z0-9._-]. */
bool ht_agent_cmd_id_valid(const char *id);

/* A bounded memory of the last cap command ids with their acks, oldest
 * forgotten first; lookups are O(1) on average. New; cap 0 means 1. */
struct ht_agent_ids;
struct ht_agent_ids *ht_agent_ids_new(size_t cap);
/* NULL is a no-op. */
void ht_agent_ids_free(struct ht_agent_ids *m);
/* The ack remembered for id (borrowed, valid until the next put), or
 * NULL. */
const char *ht_agent_ids_find(const struct ht_agent_ids *m, const char *id);
/* Remember id with ack (both copied). An invalid id or one already
 * remembered is ignored, so the first ack stays the answer. */
void ht_agent_ids_put(struct ht_agent_ids *m, const char *id, const char *ack);
/* Ids remembered now (at most cap). */
size_t ht_agent_ids_count(const struct ht_agent_ids *m);

#endif
