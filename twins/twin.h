/* twin.h - digital twin models, the rule language and the twin engine.
 *
 * A twin model is a JSON document (schema: twins/schema/twin.schema.json;
 * format: docs/twins.md): components with a kind, a 3D pose and properties
 * bound to device properties ("device-id/property"), twin-level writable
 * properties that fan out to device commands, and rules written in a small
 * expression language whose activity decides whether the twin is stable.
 *
 * No I/O: the engine is fed device values and statuses by its caller (the
 * gateway's event loop) with the caller's clock (now_ms, any monotonic or
 * wall-clock base, as long as the caller is consistent), and reports through
 * a callback. Not thread-safe: call everything from one thread.
 */
#ifndef HT_TWIN_H
#define HT_TWIN_H

#include "semantics/semantics.h"

#include "ht_json.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of a twin document (hostile input is bounded before use). */
#define HT_TWIN_MAX_COMPONENTS 64
#define HT_TWIN_MAX_PROPS 32  /* per component, and twin-level */
#define HT_TWIN_MAX_TARGETS 8 /* per twin-level property */
#define HT_TWIN_MAX_RULES 64
#define HT_TWIN_MAX_EXPR 1024            /* rule expression length in bytes */
#define HT_TWIN_MAX_STR 256              /* titles, messages, asset names */
#define HT_TWIN_MAX_DELAY_MS 86400000LL  /* on/off delays: 24 h */
#define HT_TWIN_MAX_SHELVE_MS 86400000LL /* a shelf expires within 24 h */

/* The reserved component name that addresses twin-level properties:
 * "twin.line_speed". */
#define HT_TWIN_SELF "twin"

enum ht_twin_kind {
    HT_TWIN_KIND_GEAR,
    HT_TWIN_KIND_MOTOR,
    HT_TWIN_KIND_HEATER,
    HT_TWIN_KIND_FAN,
    HT_TWIN_KIND_LAMP,
    HT_TWIN_KIND_BUTTON,
    HT_TWIN_KIND_KNOB,
    HT_TWIN_KIND_CONVEYOR,
    HT_TWIN_KIND_TANK,
    HT_TWIN_KIND_SENSOR,
    HT_TWIN_KIND_GENERIC,
};

enum ht_twin_severity {
    HT_TWIN_SEV_INFO,
    HT_TWIN_SEV_WARNING,
    HT_TWIN_SEV_CRITICAL,
};

/* Alarm priority (ISA-18.2), most urgent first. A rule without a
 * "priority" gets one from its severity: critical -> critical, warning ->
 * high; an info rule without a priority is not an alarm. */
enum ht_twin_priority {
    HT_TWIN_PRIO_CRITICAL,
    HT_TWIN_PRIO_HIGH,
    HT_TWIN_PRIO_MEDIUM,
    HT_TWIN_PRIO_LOW,
};

/* The ISA-18.2 life cycle of one alarm (docs/twins.md, "Alarms"):
 * NORMAL -> ACTIVE_UNACK (condition raised) -> ACTIVE_ACKED (operator
 * acknowledges) -> NORMAL (condition returns); or ACTIVE_UNACK ->
 * RETURNED_UNACK (condition returns first) -> NORMAL (acknowledged).
 * SHELVED (by an operator, for a time), SUPPRESSED (by design, while the
 * rule's "suppressed_while" is true) and OUT_OF_SERVICE (by a technician)
 * take an alarm out of annunciation. */
enum ht_twin_alarm_state {
    HT_TWIN_ALARM_NORMAL,
    HT_TWIN_ALARM_ACTIVE_UNACK,
    HT_TWIN_ALARM_ACTIVE_ACKED,
    HT_TWIN_ALARM_RETURNED_UNACK,
    HT_TWIN_ALARM_SHELVED,
    HT_TWIN_ALARM_SUPPRESSED,
    HT_TWIN_ALARM_OUT_OF_SERVICE,
};

/* Operator and technician commands on an alarm. */
enum ht_twin_alarm_cmd {
    HT_TWIN_ACMD_ACK,            /* "ack" */
    HT_TWIN_ACMD_SHELVE,         /* "shelve" (for a duration) */
    HT_TWIN_ACMD_UNSHELVE,       /* "unshelve" */
    HT_TWIN_ACMD_OUT_OF_SERVICE, /* "out-of-service" (technician) */
    HT_TWIN_ACMD_IN_SERVICE,     /* "in-service" (technician) */
};

/* What drives a component property from the twin's own alarms (its
 * "driven_by"): NONE, any alarm unacknowledged, any alarm active. */
enum ht_twin_drive {
    HT_TWIN_DRIVE_NONE,
    HT_TWIN_DRIVE_UNACKED,
    HT_TWIN_DRIVE_ACTIVE,
};

/* Quality of a twin property value (see docs/twins.md):
 * UNKNOWN: never received; GOOD: fresh; STALE: the device went offline and
 * came back, and this value predates the outage, or its heartbeat is late
 * (ht_twin_engine_set_stale); OFFLINE: the device is offline now (the
 * last value is kept). */
enum ht_twin_quality {
    HT_TWIN_Q_UNKNOWN,
    HT_TWIN_Q_GOOD,
    HT_TWIN_Q_STALE,
    HT_TWIN_Q_OFFLINE,
};

/* State of a rule: UNKNOWN (an input is missing, stale or offline, or the
 * expression could not be evaluated), INACTIVE (false), PENDING (true but
 * not yet for its duration), ACTIVE (the alarm is raised). */
enum ht_twin_rule_state {
    HT_TWIN_RULE_UNKNOWN,
    HT_TWIN_RULE_INACTIVE,
    HT_TWIN_RULE_PENDING,
    HT_TWIN_RULE_ACTIVE,
};

/* Static names ("gear", "warning", "good", "active", "high",
 * "active_unacknowledged", "ack", ...). Borrowed, never NULL. */
const char *ht_twin_kind_name(enum ht_twin_kind k);
const char *ht_twin_priority_name(enum ht_twin_priority p);
const char *ht_twin_alarm_state_name(enum ht_twin_alarm_state s);
const char *ht_twin_alarm_cmd_name(enum ht_twin_alarm_cmd c);
/* Parse a priority, alarm state or command name (borrowed): HT_OK, or
 * HT_EINVAL for anything else (*out untouched). */
int ht_twin_priority_parse(const char *s, enum ht_twin_priority *out);
int ht_twin_alarm_state_parse(const char *s, enum ht_twin_alarm_state *out);
int ht_twin_alarm_cmd_parse(const char *s, enum ht_twin_alarm_cmd *out);
const char *ht_twin_severity_name(enum ht_twin_severity s);
const char *ht_twin_quality_name(enum ht_twin_quality q);
const char *ht_twin_rule_state_name(enum ht_twin_rule_state s);
/* Parse a kind name; HT_OK or HT_EINVAL. */
int ht_twin_kind_parse(const char *s, enum ht_twin_kind *out);

/* ---- the model (parsed document); all strings owned by the model ---- */

/* A component property bound to one device property. The twin value is
 *   twin = (a * device + b) * scale + offset
 * where (a, b) is the unit conversion from device_unit to unit (identity
 * when either is absent or they are equal). */
struct ht_twin_prop {
    char *name;        /* [a-z][a-z0-9_]{0,31} */
    char *title;       /* or NULL */
    char *device;      /* bound device id */
    char *device_prop; /* bound device property */
    bool has_type;
    enum ht_sem_dtype type; /* when has_type; else taken from the device TD */
    char *semantic;         /* vocabulary term ("ht:RotationSpeed") or NULL */
    char *unit;             /* twin unit (QUDT "unit:DEG_C") or NULL */
    char *device_unit;      /* device unit or NULL */
    double scale, offset;   /* 1 and 0 by default */
    double conv_a, conv_b;  /* unit conversion, derived */
    bool writable;          /* writes through the twin allowed (default no) */
    bool unsafe;            /* writes need a confirmation in UIs */
    bool has_min, has_max, has_step;
    double min, max, step;    /* twin units */
    enum ht_twin_drive drive; /* "driven_by": set by the engine (writable
                                 booleans only) */
};

/* One target of a twin-level property: a component property, optionally
 * inverted (booleans only). */
struct ht_twin_target {
    size_t comp, prop; /* indices into the model */
    bool invert;
};

/* A twin-level writable property ("twin.<name>"), fanning out to targets. */
struct ht_twin_tprop {
    char *name;
    char *title;
    enum ht_sem_dtype type;
    char *unit;
    bool unsafe;
    bool has_min, has_max, has_step;
    double min, max, step;
    struct ht_twin_target *targets;
    size_t ntargets;
};

struct ht_twin_component {
    char *id;    /* [a-z][a-z0-9_]{0,31}, not "twin" */
    char *title; /* or NULL */
    enum ht_twin_kind kind;
    double position[3]; /* metres, relative to the twin's anchor */
    double rotation[3]; /* degrees, XYZ Euler */
    double size[3];     /* metres (bounding box); defaults by kind */
    char *model_asset;  /* asset name of a glTF/GLB model, or NULL */
    struct ht_twin_prop *props;
    size_t nprops;
};

struct ht_twin_expr; /* compiled rule expression (opaque) */

struct ht_twin_rule {
    char *id; /* [a-z0-9][a-z0-9._-]{0,63} */
    enum ht_twin_severity severity;
    char *message;
    char *expr_src; /* the source text */
    struct ht_twin_expr *expr;
    int64_t for_ms; /* on-delay: "for" or "on_delay", 0 if none */
    /* Alarm attributes (docs/twins.md, "Alarms"). */
    bool alarm; /* has a life cycle (see enum ht_twin_priority) */
    enum ht_twin_priority priority;
    int64_t off_delay_ms; /* the condition must be false this long, or 0 */
    double deadband;      /* hysteresis of comparisons while active, >= 0 */
    char *action;         /* what the operator should do, or NULL */
    char *suppress_src;   /* "suppressed_while" source, or NULL */
    struct ht_twin_expr *suppress; /* compiled, or NULL */
    /* "interlock": a command that would make the condition true is
     * refused before it is sent (ht_twin_engine_check_write). */
    bool interlock;
};

/* A component property a permissive or an action names ("comp.prop";
 * a twin-level property stands for its targets). */
struct ht_twin_pref {
    size_t comp, prop;
};

/* A condition that must hold for commands to some properties to be
 * allowed ("setpoints only while the line runs"). */
struct ht_twin_permissive {
    char *id; /* [a-z0-9][a-z0-9._-]{0,63} */
    char *message;
    char *expr_src;
    struct ht_twin_expr *expr;
    struct ht_twin_pref *applies; /* the guarded properties */
    size_t napplies;
};

/* What starts an action: an input's edge or a rule going into alarm. */
enum ht_twin_trigger {
    HT_TWIN_TRIG_RISING,  /* boolean input false -> true */
    HT_TWIN_TRIG_FALLING, /* boolean input true -> false */
    HT_TWIN_TRIG_CHANGE,  /* known value -> another known value */
    HT_TWIN_TRIG_ALARM,   /* rule becomes active */
};

/* A twin-model action: when the trigger fires, write value (or, when
 * value is NULL, the trigger's own value in twin units) to the twin
 * property "write" ("comp.prop" or "twin.name"). */
struct ht_twin_action {
    char *name; /* [a-z0-9][a-z0-9._-]{0,63} */
    enum ht_twin_trigger trigger;
    struct ht_twin_pref on; /* the input (not for ALARM) */
    size_t rule;            /* ALARM: the rule */
    char *write;            /* the written twin property */
    json_t *value;          /* owned, or NULL */
};

struct ht_twin_model {
    char *id; /* twin id, ht_id_valid */
    char *title;
    char *description;    /* or NULL */
    int64_t version;      /* 0 if not given */
    char *marker_asset;   /* anchor marker asset or NULL */
    double marker_size;   /* metres (marker width), 0 if unknown */
    char *spatial_anchor; /* spatial anchor id or NULL */
    struct ht_twin_component *comps;
    size_t ncomps;
    struct ht_twin_tprop *tprops;
    size_t ntprops;
    struct ht_twin_rule *rules;
    size_t nrules;
    struct ht_twin_permissive *permissives;
    size_t npermissives;
    struct ht_twin_action *actions;
    size_t nactions;
    /* "control": "required": commands need a control holder. */
    bool control_required;
};

/* Parse and validate a twin document (borrowed). On success *out is a new
 * model (free with ht_twin_model_free). On failure returns HT_EINVAL (or
 * HT_EPARSE for a rule expression), *out stays NULL, err gets a readable
 * message that starts with the JSON pointer of the offending member, e.g.
 * "/rules/2/expr: at 14: expected ')'"; errptr (may be NULL, errptrlen
 * bytes) gets just the JSON pointer. */
int ht_twin_model_parse(const json_t *doc, struct ht_twin_model **out,
                        char *err, size_t errlen, char *errptr,
                        size_t errptrlen);
void ht_twin_model_free(struct ht_twin_model *m);
/* Component by id, or NULL. Borrowed. */
const struct ht_twin_component *
ht_twin_model_component(const struct ht_twin_model *m, const char *id);
/* Resolve "component.property" to indices; HT_OK or HT_ENOENT. */
int ht_twin_model_find_prop(const struct ht_twin_model *m, const char *ref,
                            size_t *comp, size_t *prop);
/* Twin-level property by name, or NULL. Borrowed. */
const struct ht_twin_tprop *ht_twin_model_tprop(const struct ht_twin_model *m,
                                                const char *name);
/* Convert a device value to twin units and back (numbers only). */
double ht_twin_prop_to_twin(const struct ht_twin_prop *p, double device);
double ht_twin_prop_to_device(const struct ht_twin_prop *p, double twin);

/* The distinct property references of a rule ("component.property"), in
 * order of first use. Borrowed. */
size_t ht_twin_rule_nrefs(const struct ht_twin_rule *r);
const char *ht_twin_rule_ref(const struct ht_twin_rule *r, size_t i);

/* ---- the rule language (also used by ht_twin_model_parse) ----
 * Syntax check of one expression: HT_OK, or HT_EPARSE with a message
 * "at N: ..." (N = 0-based byte offset, also in *pos when pos != NULL).
 * References are not resolved here. */
int ht_twin_expr_check(const char *src, char *err, size_t errlen, size_t *pos);

/* ---- auto twins and TD export ---- */

/* A one-component twin document for an approved device (new reference):
 * twin id = twin_id (copied; NULL: the device id), component "device" of a
 * kind guessed from the semantic types, one property per affordance bound
 * to it, no rules. Returns NULL if t has no valid id. */
json_t *ht_twin_auto_doc(const struct ht_sem_thing *t, const char *twin_id);

/* A W3C WoT TD of the twin (new reference; id urn:holotwin:twin:{id}):
 * one property per component property ("component.property") and per
 * twin-level property ("twin.name"), typed from the model and, where the
 * model is silent, from the bound devices' things (devs, ndevs borrowed, may
 * be NULL/0). forms as in ht_sem_td_build (kind is forced to "twin"). */
json_t *ht_twin_td_build(const struct ht_twin_model *m,
                         const struct ht_sem_thing *const *devs, size_t ndevs,
                         const struct ht_sem_forms *forms);

/* ---- the engine ---- */

enum ht_twin_event_type {
    HT_TWIN_EV_STATE,         /* changed: properties that changed */
    HT_TWIN_EV_ALARM_RAISED,  /* rule, severity, message */
    HT_TWIN_EV_ALARM_CLEARED, /* rule, severity, message */
    HT_TWIN_EV_STABLE,        /* stable */
};

/* An event; every pointer is valid only during the callback. */
struct ht_twin_event {
    enum ht_twin_event_type type;
    const char *twin;
    int64_t ts; /* now_ms of the call that caused it */
    /* STATE: array of "component.property"; the engine never changes it
     * after the call, so a consumer may keep it with json_incref. */
    const json_t *changed;
    const char *rule; /* ALARM_*: rule id */
    enum ht_twin_severity severity;
    const char *message;
    bool stable; /* STABLE: the new value; else current */
};

/* Called from inside engine calls (set_value, set_device_status, tick,
 * put, remove). It must not call back into the engine. */
typedef void (*ht_twin_event_fn)(const struct ht_twin_event *ev, void *ud);

struct ht_twin_engine;

/* New engine (free with ht_twin_engine_free). cb may be NULL. */
struct ht_twin_engine *ht_twin_engine_new(ht_twin_event_fn cb, void *ud);
void ht_twin_engine_free(struct ht_twin_engine *e);

/* Add or replace a twin from its document (borrowed). Rules are evaluated
 * at once against the values the engine already knows (events follow).
 * On error returns as ht_twin_model_parse, the engine is unchanged. */
int ht_twin_engine_put(struct ht_twin_engine *e, const json_t *doc,
                       int64_t now_ms, char *err, size_t errlen);
/* Remove a twin: HT_OK or HT_ENOENT. */
int ht_twin_engine_remove(struct ht_twin_engine *e, const char *twin_id);
/* The model of a twin (borrowed, valid until the twin is replaced or
 * removed), or NULL. */
const struct ht_twin_model *ht_twin_engine_model(const struct ht_twin_engine *e,
                                                 const char *twin_id);
/* Number of twins and the id of the i-th, in id order (borrowed). */
size_t ht_twin_engine_count(const struct ht_twin_engine *e);
const char *ht_twin_engine_id(const struct ht_twin_engine *e, size_t i);

/* A device property value arrived (v borrowed: boolean, number or string;
 * anything else is stored as unknown). Only the twins bound to it and only
 * the rules referencing it are re-evaluated. Values of unbound properties
 * are remembered for twins added later. HT_OK, or HT_EINVAL for bad ids. */
int ht_twin_engine_set_value(struct ht_twin_engine *e, const char *device_id,
                             const char *prop, const json_t *v, int64_t now_ms);
/* Device status: offline marks its values OFFLINE; coming back online
 * marks them STALE until fresh values arrive. */
int ht_twin_engine_set_device_status(struct ht_twin_engine *e,
                                     const char *device_id, bool online,
                                     int64_t now_ms);
/* One value of an online device is stale (its heartbeat is late): twins
 * bound to it show it stale and their rules over it go UNKNOWN until the
 * next value (ht_twin_engine_set_value). HT_OK (also when nothing is
 * bound or there is no value), or HT_EINVAL for bad ids. */
int ht_twin_engine_set_stale(struct ht_twin_engine *e, const char *device_id,
                             const char *prop, int64_t now_ms);
/* Earliest time at which the engine has work, or -1: a pending on-delay
 * rule becomes active, an off-delay ends, a shelf expires. The caller
 * arms one timer for it and calls ht_twin_engine_tick. */
int64_t ht_twin_engine_next_deadline(const struct ht_twin_engine *e);
/* Do the timed work due at or before now_ms. */
void ht_twin_engine_tick(struct ht_twin_engine *e, int64_t now_ms);

/* The twin's current state (new reference) or NULL for an unknown twin:
 * {"id","version","ts","stable","properties":{"c.p":{"value","ts",
 * "quality"}},"alarms":[{"rule","severity","message","since"}],
 * "rules":{"id":{"state","severity"}}}. Keys sorted when serialised. */
json_t *ht_twin_engine_state(const struct ht_twin_engine *e,
                             const char *twin_id);
/* The same state as compact JSON text with sorted keys, byte for byte what
 * json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS) writes, built without
 * the tree (the snapshot of every value's twin). New text (caller frees),
 * *len and *nalarms (either may be NULL) its length and the number of
 * entries in its "alarms"; NULL for an unknown twin. */
char *ht_twin_engine_state_text(const struct ht_twin_engine *e,
                                const char *twin_id, size_t *len,
                                size_t *nalarms);
/* The state of some properties of a twin: a new object mapping each ref
 * of refs (borrowed array of "component.property" or "twin.name") to
 * {"value","ts","quality"} as in ht_twin_engine_state's "properties";
 * unknown refs are left out. NULL for an unknown twin. Costs the refs, not
 * the whole twin. */
json_t *ht_twin_engine_props_state(const struct ht_twin_engine *e,
                                   const char *twin_id, const json_t *refs);
/* The same object as compact JSON text in its insertion order (what
 * json_dumps(props, JSON_COMPACT) writes), appended to b (borrowed). False
 * and nothing appended for an unknown twin. */
bool ht_twin_engine_props_state_text(const struct ht_twin_engine *e,
                                     const char *twin_id, const json_t *refs,
                                     struct ht_jbuf *b);
/* Ids of the twins that bind a device (new array of strings, id order;
 * empty for an unknown device). Costs that device's bindings. */
json_t *ht_twin_engine_device_twins(struct ht_twin_engine *e,
                                    const char *device_id);
/* Whether the twin is stable; false for an unknown twin. */
bool ht_twin_engine_stable(const struct ht_twin_engine *e, const char *twin_id);

/* One device command of a twin write. */
struct ht_twin_write {
    char *device;  /* new */
    char *prop;    /* new */
    json_t *value; /* new reference, in device units */
};
/* Resolve a write of v (borrowed) to "component.property" or "twin.name"
 * of a twin into device commands. *out is a new array of *n entries (free
 * with ht_twin_writes_free). Errors: HT_ENOENT (unknown twin/property),
 * HT_ERDONLY (not writable), HT_ETYPE (wrong JSON type), HT_ERANGE (out of
 * the twin property's min/max), with a message in err. */
int ht_twin_engine_resolve_write(const struct ht_twin_engine *e,
                                 const char *twin_id, const char *ref,
                                 const json_t *v, struct ht_twin_write **out,
                                 size_t *n, char *err, size_t errlen);
void ht_twin_writes_free(struct ht_twin_write *w, size_t n);

/* ---- alarms (ISA-18.2 life cycle; docs/twins.md, "Alarms") ---- */

/* One life-cycle transition of one alarm; every pointer is valid only
 * during the callback. */
struct ht_twin_alarm_event {
    const char *twin, *rule;
    enum ht_twin_alarm_state from, to;
    const char *cause;   /* "condition", "ack", "shelve", "unshelve",
                            "shelve-expired", "out-of-service",
                            "in-service", "suppressed", "unsuppressed",
                            "removed" */
    const char *who;     /* the operator or technician; NULL when the
                            process or the clock caused it */
    const char *note;    /* the command's note, or NULL */
    int64_t ts;          /* now_ms of the call that caused it */
    const json_t *alarm; /* the full state after it, as ht_twin_engine_alarm */
};

/* Called from inside engine calls, after the twin's own events of that
 * call; it must not call back into the engine. */
typedef void (*ht_twin_alarm_fn)(const struct ht_twin_alarm_event *ev,
                                 void *ud);
/* A command the engine wants sent to a device: a "driven_by" property whose
 * value changed (w borrowed, valid during the call). */
typedef void (*ht_twin_drive_fn)(const char *twin,
                                 const struct ht_twin_write *w, int64_t ts,
                                 void *ud);
/* An action fired (twin, action name, written ref and value borrowed,
 * valid during the call). It must not call back into the engine. */
typedef void (*ht_twin_action_fn)(const char *twin, const char *action,
                                  const char *ref, const json_t *value,
                                  int64_t ts, void *ud);
/* Set (or clear, with NULL) the action callback. */
void ht_twin_engine_on_action(struct ht_twin_engine *e, ht_twin_action_fn cb,
                              void *ud);

/* Why a command is refused before it is sent. */
enum ht_twin_refusal_kind {
    HT_TWIN_REFUSE_NONE,
    HT_TWIN_REFUSE_INTERLOCK,  /* id: the rule that would go into alarm */
    HT_TWIN_REFUSE_PERMISSIVE, /* id: the permissive that does not hold */
};
struct ht_twin_refusal {
    enum ht_twin_refusal_kind kind;
    char id[65];
    char message[HT_TWIN_MAX_STR];
};
/* Would the device commands w[0..n) (borrowed, device units) be refused
 * by twin twin_id? Interlock rules are evaluated with the commanded
 * values substituted for their inputs (no side effects, durations
 * ignored): a rule that is not active now and would be true is refused.
 * A permissive guarding any commanded property must be known true. The
 * first refusal goes into *out (kind NONE when allowed). HT_OK, or
 * HT_ENOENT for an unknown twin. */
int ht_twin_engine_check_write(const struct ht_twin_engine *e,
                               const char *twin_id,
                               const struct ht_twin_write *w, size_t n,
                               struct ht_twin_refusal *out);

/* Set (or clear, with NULL) the alarm transition and drive callbacks. */
void ht_twin_engine_on_alarm(struct ht_twin_engine *e, ht_twin_alarm_fn cb,
                             void *ud);
void ht_twin_engine_on_drive(struct ht_twin_engine *e, ht_twin_drive_fn cb,
                             void *ud);

/* A command on an alarm. All pointers borrowed for the call. */
struct ht_twin_alarm_req {
    const char *twin, *rule;
    const char *who;   /* required: recorded in the event */
    const char *note;  /* optional reason */
    int64_t shelve_ms; /* SHELVE: 1 ms .. HT_TWIN_MAX_SHELVE_MS */
};
/* Apply cmd to an alarm at now_ms; emits the transition event. Returns
 * HT_OK; HT_ENOENT (no such twin or rule), HT_EINVAL (the rule is not an
 * alarm, no "who", shelve duration out of range) or HT_ESTATE (the command
 * does not apply in the alarm's state, e.g. acknowledging a normal alarm),
 * with a readable message in err. On error nothing changes. */
int ht_twin_engine_alarm_cmd(struct ht_twin_engine *e,
                             enum ht_twin_alarm_cmd cmd,
                             const struct ht_twin_alarm_req *rq, int64_t now_ms,
                             char *err, size_t errlen);
/* Restore an alarm's life cycle after a restart from its last known state
 * (borrowed: an object as ht_twin_engine_alarm gives, e.g. the newest row
 * of the gateway's alarm journal): "state", "since", "shelved_until" (when
 * shelved), "by", "note", "first_out". The restore itself is no event;
 * then the alarm is reconciled with its condition as far as that is known
 * (a normal alarm whose condition is active now raises, with an event; an
 * unknown condition holds it). A shelf already expired returns at the next
 * tick. A suppressed alarm is restored as normal (suppression follows the
 * values).
 * HT_OK, HT_ENOENT (no such twin or alarm rule) or HT_EINVAL (bad state). */
int ht_twin_engine_alarm_restore(struct ht_twin_engine *e, const char *twin_id,
                                 const char *rule, const json_t *state,
                                 int64_t now_ms);
/* The full state of one alarm (new reference) or NULL:
 * {"twin","rule","state","active","unacknowledged","suppressed",
 * "first_out","priority","severity","message","action"?,"since",
 * "raised"?,"shelved_until"?,"by"?,"note"?} (absent members: not set). */
json_t *ht_twin_engine_alarm(const struct ht_twin_engine *e,
                             const char *twin_id, const char *rule);
/* The alarms of one twin (twin_id) or of all twins (NULL) that are not
 * NORMAL (all of them when with_normal), most urgent first: priority, then
 * unacknowledged before acknowledged, then newest "since". New array. */
json_t *ht_twin_engine_alarms(const struct ht_twin_engine *e,
                              const char *twin_id, bool with_normal);
/* Number of unacknowledged alarms of a twin (0 for an unknown twin). */
size_t ht_twin_engine_unacked(const struct ht_twin_engine *e,
                              const char *twin_id);

/* ---- the past (time travel, past.c) ----
 * A twin's state at an instant, rebuilt from what was recorded: the value
 * of each bound device property at or before it, the devices' presence
 * transitions and the alarm journal. The values and transitions are
 * replayed in time order into a fresh engine (so units, quality and rule
 * evaluation are the live engine's own), then the alarms are taken from
 * the journal, which knows on-delays, acknowledgements and shelves that
 * the last values alone cannot tell. */
struct ht_twin_past_value {
    const char *device, *prop; /* borrowed */
    const json_t *v;           /* borrowed; NULL: nothing known */
    int64_t ts;
    /* The newest quality changes no value recorded (0: none): confirmed
     * by the board (good again after a reconnect), gone stale (missed
     * heartbeats). Replayed in time order like the rest. */
    int64_t good_ts, stale_ts;
};
struct ht_twin_past_status {
    const char *device; /* borrowed */
    bool online;
    int64_t ts;
};
/* The state of twin document doc (borrowed) at `at`, in the shape of
 * ht_twin_engine_state plus "at", each rule's journaled "alarm" state and
 * "alarm_states" ({rule: journaled state object} for the rules alarms
 * holds: borrowed object, may be NULL). vals and sts borrowed, any order.
 * New reference, or NULL with a message in err (a bad document). */
json_t *ht_twin_state_at(const json_t *doc,
                         const struct ht_twin_past_value *vals, size_t nvals,
                         const struct ht_twin_past_status *sts, size_t nsts,
                         const json_t *alarms, int64_t at, char *err,
                         size_t errlen);

/* Number of rule evaluations since the engine was made (for tests and
 * metrics: shows that updates are incremental). */
uint64_t ht_twin_engine_eval_count(const struct ht_twin_engine *e);

#endif
