/* gwctl.h - internal interface of gwctl, the technicians' CLI.
 *
 * gwctl talks only to the gateway's public HTTP API (libcurl). Subcommands
 * live in one table (main.c); each is a function taking the parsed context
 * and its own arguments and returning a documented exit code.
 */
#ifndef HT_GWCTL_H
#define HT_GWCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit codes (documented in docs/gwctl.1 and --help). */
enum {
    GW_EXIT_OK = 0,
    GW_EXIT_USAGE = 1,
    GW_EXIT_NOTFOUND = 2,
    GW_EXIT_REFUSED = 3,     /* 401/403/409 and other refusals */
    GW_EXIT_UNREACHABLE = 4, /* no connection to the gateway */
    GW_EXIT_DEVICE = 5,      /* device error or timeout (5xx, 504, 503) */
};

struct gwctl {
    const char *gateway; /* base URL, no trailing slash */
    const char *token;   /* bearer token or NULL */
    bool json;           /* --json: machine-readable output */
    bool color;          /* stdout is a TTY and NO_COLOR unset */
    long timeout_s;      /* per request */
    bool timeout_set;    /* --timeout was given (discover's browse time) */
    char *owned[4];      /* strings read from the config file */
};

struct gwctl_cmd {
    const char *name;
    int (*fn)(struct gwctl *g, int argc, char **argv);
    const char *usage;   /* "devices [list|show ID|...]" */
    const char *help;    /* one line */
    const char *details; /* arguments and options, for `gwctl help CMD` */
};

/* A response: HTTP status and body parsed as JSON when it is JSON. */
struct gw_resp {
    long status;
    json_t *json; /* new reference or NULL */
    char *body;   /* raw body (new, NUL-terminated) */
    char *ctype;  /* content type (new) or NULL */
    char *etag;   /* ETag header (new) or NULL */
    long long ts; /* X-Holotwin-Ts header (a bare property value's time) */
};

/* Perform a request. body (borrowed) may be NULL; ctype defaults to
 * application/json when body is set. Returns GW_EXIT_OK when an HTTP answer
 * arrived (any status; inspect r->status), GW_EXIT_UNREACHABLE otherwise
 * (message printed). */
int gw_request(const struct gwctl *g, const char *method, const char *path,
               const char *body, const char *ctype, struct gw_resp *r);
void gw_resp_clear(struct gw_resp *r);
/* Map a non-2xx response to an exit code and print the problem detail as
 * one line on stderr. */
int gw_fail(const struct gwctl *g, const struct gw_resp *r, const char *what);
/* GET path and require 2xx with a JSON body; *out new reference. */
int gw_get_json(const struct gwctl *g, const char *path, json_t **out);

/* GET a list resource ({"items":[...]}). On success *items is borrowed
 * from *res (new; decref it); with --json the items are printed instead and
 * *res is NULL, so the caller has nothing left to do. */
int gw_list(const struct gwctl *g, const char *path, json_t **res,
            json_t **items);

/* A body-less request that changes id, reported as one JSON object
 * {"id","action","ok":true} with --json, else "<prefix><id>: <done>". */
int gw_act(const struct gwctl *g, const char *method, const char *path,
           const char *prefix, const char *id, const char *action,
           const char *done);

/* Percent-encode one path segment (new string). */
char *gw_escape(const char *s);

/* Output helpers. */
void gw_print_json(const json_t *v);
/* An aligned table: headers, then rows of ncols strings each. */
struct gw_table;
struct gw_table *gw_table_new(int ncols, const char *const *headers);
void gw_table_row(struct gw_table *t, const char *const *cells);
void gw_table_print(struct gw_table *t, FILE *out, bool color);
void gw_table_free(struct gw_table *t);
/* "2026-11-23 20:51:03" in local time for a ms timestamp ("-" when 0). */
void gw_fmt_time(long long ms, char *buf, size_t len);
/* The string member key of obj (borrowed), or "-" when absent. */
const char *gw_str(const json_t *obj, const char *key);
/* A JSON scalar as short text (new string). */
char *gw_scalar_text(const json_t *v);

/* Exit code for a non-2xx HTTP status (404 -> 2, 401/403/409 -> 3,
 * 400/422 -> 1, 5xx -> 5). */
int gw_status_exit(long status);
/* Print "usage: gwctl USAGE" for the named command on stderr and return
 * GW_EXIT_USAGE (main.c owns the table). */
int gw_usage(const char *cmd);
/* True when argv[1..argc-1] holds --help or -h (per-subcommand help). */
bool gw_wants_help(int argc, char **argv);

/* ---- pure helpers (util.c; unit-tested in tests/unit/test_gwctl.c) ---- */

/* A command-line VALUE as JSON: parsed as JSON when it is JSON (true, 42,
 * "x", {"a":1}), otherwise taken as a JSON string. New reference. */
json_t *gw_parse_value(const char *text);
/* Split "COMPONENT.PROP" at the first dot into caller buffers. Returns 0, or
 * -1 with err filled when a part is empty, too long or not a name. */
int gw_split_twin_prop(const char *arg, char *comp, size_t clen, char *prop,
                       size_t plen, char *err, size_t errlen);
/* Split "DEVICE/PROP" at the slash; the device must be a valid id. Returns
 * 0 or -1 with err filled. */
int gw_split_device_prop(const char *arg, char *dev, size_t dlen, char *prop,
                         size_t plen, char *err, size_t errlen);
/* A property name as used in paths: [A-Za-z0-9_-]{1,64}. */
bool gw_name_valid(const char *s);
/* Parse a time for --from/--to: milliseconds since the epoch, "now",
 * a relative "-30s" / "-5m" / "-2h" / "-7d" (before now_ms), or a local
 * "YYYY-MM-DD[THH:MM[:SS]]" (a trailing Z means UTC). Returns 0 or -1. */
int gw_parse_time(const char *s, long long now_ms, long long *out);
/* The value and timestamp inside a property answer: {"v":x,"ts":n},
 * {"value":x,...} or the bare value. *v borrowed from ans; *ts 0 if none. */
void gw_extract_value(const json_t *ans, const json_t **v, long long *ts);
/* The array of a list answer: {"items":[...]}, {"points":[...]} (history)
 * or a bare array (borrowed), NULL when it is none of these. */
json_t *gw_items(const json_t *ans);
/* A ready device-agent config (new reference) from the gateway's answer to
 * POST /api/v1/devices ({"id","mqtt":{"host","port","username",
 * "password","tls":{"port","ca"}}}) for backend "sim" or "gpiod": with
 * "tls" the board uses the TLS port and gets the CA certificate inline
 * (mqtt.ca). NULL with err filled when the answer lacks something. */
json_t *gw_agent_config(const json_t *ans, const char *backend, char *err,
                        size_t errlen);
/* Flatten a twin state document (twins/twin.h: {"properties":{"c.p":
 * {"value","ts","quality"}}, ...}) into rows of {"property":"c.p",
 * "value":v,"ts":n[,"quality":q]} (new array). Also understands
 * {"components":{c:{p:..}}} and leaves written {"v":x,"ts":n}. */
json_t *gw_flatten_state(const json_t *state);
/* Set the binding ("bind": "device/dprop", twins/schema/twin.schema.json)
 * of component.prop in a twin model (borrowed, modified in place).
 * Components and properties are arrays of objects with "id" or "name" (or
 * objects keyed by name). Returns 0, or -1 with err filled when the
 * component or property does not exist. */
int gw_model_bind(json_t *model, const char *comp, const char *prop,
                  const char *device, const char *dprop, char *err,
                  size_t errlen);

/* A duration for `alarms shelve --for`: "90s", "30m", "8h", "500ms";
 * positive, at most 24 h. Returns 0 with *out in ms, or -1. */
int gw_parse_duration(const char *s, long long *out);
/* Split an alarm id "TWIN:RULE" (or "TWIN/RULE") into caller buffers; both
 * must be valid ids. Returns 0, or -1 with err filled. */
int gw_split_alarm(const char *arg, char *twin, size_t tlen, char *rule,
                   size_t rlen, char *err, size_t errlen);

/* ---- Server-Sent Events parser (sse.c) ---- */
struct gw_sse_event {
    const char *event; /* "message" when unnamed */
    const char *data;  /* data lines joined with '\n' */
    const char *id;    /* last id seen (may be "") */
};
typedef void (*gw_sse_cb)(const struct gw_sse_event *ev, void *ud);
struct gw_sse {
    char *line; /* partial line */
    size_t llen, lcap;
    char *data; /* data buffer of the current event */
    size_t dlen, dcap;
    char *event;   /* event name or NULL */
    char *last_id; /* Last-Event-ID (persists across events) */
    long retry_ms; /* last "retry:" value, 0 if none */
    bool has_data;
    bool cr; /* last byte was CR (CRLF split over chunks) */
};
void gw_sse_init(struct gw_sse *s);
/* Feed n bytes (borrowed); calls cb for each complete event (data
 * borrowed until cb returns). Returns 0, or -1 when a line exceeds 1 MiB. */
int gw_sse_feed(struct gw_sse *s, const char *p, size_t n, gw_sse_cb cb,
                void *ud);
/* Drop a partial event (after a reconnect); keeps last_id. */
void gw_sse_reset(struct gw_sse *s);
void gw_sse_clear(struct gw_sse *s);

/* Read or write one property: kind "devices" (prop a name) or "twins"
 * (prop "component.property"). Print the value / the confirmed value. */
int gw_prop_get(struct gwctl *g, const char *kind, const char *id,
                const char *prop);
int gw_prop_set(struct gwctl *g, const char *kind, const char *id,
                const char *prop, const char *value);

/* Subcommands (one file each or grouped). */
int gw_cmd_status(struct gwctl *g, int argc, char **argv);
int gw_cmd_devices(struct gwctl *g, int argc, char **argv);
int gw_cmd_get(struct gwctl *g, int argc, char **argv);
int gw_cmd_set(struct gwctl *g, int argc, char **argv);
int gw_cmd_twins(struct gwctl *g, int argc, char **argv);
int gw_cmd_bind(struct gwctl *g, int argc, char **argv);
int gw_cmd_ui(struct gwctl *g, int argc, char **argv);
int gw_cmd_watch(struct gwctl *g, int argc, char **argv);
int gw_cmd_tokens(struct gwctl *g, int argc, char **argv);
int gw_cmd_backup(struct gwctl *g, int argc, char **argv);
int gw_cmd_accounts(struct gwctl *g, int argc, char **argv);
int gw_cmd_discover(struct gwctl *g, int argc, char **argv);
int gw_cmd_audit(struct gwctl *g, int argc, char **argv);
int gw_cmd_alarms(struct gwctl *g, int argc, char **argv);

/* Follow /api/v1/events[?twin=TWIN] with the arguments "[TWIN] [--count
 * N]" from argv[start] on (usage of cmd on a mistake) until Ctrl-C or N
 * events, resuming with Last-Event-ID; only events named `only` when it
 * is not NULL, each printed by line (NULL: the generic one-line summary)
 * unless --json. Returns an exit code. */
typedef void (*gw_watch_line_fn)(const char *event, const json_t *data);
int gw_watch_cmd(struct gwctl *g, int argc, char **argv, int start,
                 const char *cmd, const char *only, gw_watch_line_fn line);

#endif
