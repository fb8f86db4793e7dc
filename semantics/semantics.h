/* semantics.h - the Holotwin capability vocabulary and the W3C WoT Thing
 * Description model: build, parse, validate, and check values against a
 * capability's data schema. No I/O: data goes in and out as jansson values
 * or plain structs.
 *
 * Shared by the device agent (builds TDs, validates commands) and the gateway
 * (validates ingested TDs, checks commands before sending them, rewrites TDs
 * for its directory).
 */
#ifndef HT_SEMANTICS_H
#define HT_SEMANTICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value data types of an affordance (WoT DataSchema "type"). */
enum ht_sem_dtype {
    HT_SEM_BOOLEAN,
    HT_SEM_INTEGER,
    HT_SEM_NUMBER,
    HT_SEM_STRING,
};

/* A vocabulary term: "ht:RotationSpeed" etc. Static data (borrowed). */
struct ht_sem_term {
    const char *name;  /* compact IRI, e.g. "ht:RotationSpeed" */
    const char *saref; /* "saref:Sensor" / "saref:Actuator" or NULL */
    const char *unit;  /* default QUDT unit ("unit:REV-PER-MIN") or NULL */
    enum ht_sem_dtype dtype;
    const char *widget; /* UI hint: gauge, display, toggle, slider, ... */
    const char *title;  /* human name */
};

/* Look up a term by compact name ("ht:Temperature"); NULL if unknown. */
const struct ht_sem_term *ht_sem_term_find(const char *name);
/* All terms, terminated by an entry with name == NULL. */
const struct ht_sem_term *ht_sem_terms(void);

/* One property affordance of a thing, as the agent and gateway see it. All
 * strings owned by the struct (freed by ht_sem_thing_free). */
struct ht_sem_prop {
    char *name; /* affordance key: [a-z0-9_]{1,32} */
    char *title;
    char *sem_type; /* vocabulary term, e.g. "ht:RotationSpeed" */
    char *unit;     /* QUDT unit or NULL */
    enum ht_sem_dtype dtype;
    bool has_min, has_max, has_step;
    double min, max, step; /* step = multipleOf */
    size_t max_len;        /* strings: maxLength in bytes, 0 = none */
    char **enum_vals;      /* strings, NULL-terminated, or NULL */
    bool read_only;
    bool observable;
    /* The board publishes this property at least this often, in ms (its
     * heartbeat, "ht:maxIntervalMs" in the TD); 0: only on change. The
     * gateway marks a value older than twice this stale. */
    uint32_t max_interval_ms;
};

struct ht_sem_thing {
    char *id; /* device/twin id (not the URN) */
    char *title;
    char *description;
    char **types; /* extra @type terms, NULL-terminated or NULL */
    struct ht_sem_prop *props;
    size_t nprops;
};

void ht_sem_thing_free(struct ht_sem_thing *t);
/* Find a property by name (borrowed) or NULL. */
const struct ht_sem_prop *ht_sem_thing_prop(const struct ht_sem_thing *t,
                                            const char *name);

/* Where the forms of a TD point. */
struct ht_sem_forms {
    const char *mqtt_base; /* "mqtt://127.0.0.1:1883" or NULL (no MQTT forms) */
    const char *topic_prefix; /* "holotwin/v1" */
    const char *http_base; /* "http://127.0.0.1:8080" or NULL (no HTTP forms) */
    const char *http_td_href; /* agent's own TD endpoint link or NULL */
    bool gateway;             /* true: HTTP forms are the gateway's REST API */
    const char *kind;         /* "device" or "twin": URN and REST paths */
    /* Security scheme of the TD: "nosec", "basic" or "bearer"; NULL picks
     * "bearer" for gateway TDs and "basic" otherwise (added field: zero
     * initialisers keep the old behaviour). */
    const char *security;
    /* "basic": the MQTT forms name the form-level scheme "mqtt_sc", the
     * user name and password of a broker account in MQTT CONNECT (the TDs
     * the gateway serves); NULL: the TD's scheme covers them (added
     * field). */
    const char *mqtt_security;
    /* No writeproperty forms on cmd/{name}: only the gateway writes
     * command topics, so the TDs it serves leave them out (added field). */
    bool mqtt_no_commands;
};

/* Vocabulary IRIs (the "ht" prefix and the JSON-LD context document). */
#define HT_SEM_VOCAB_IRI "https://holotwin.example/vocab#"
#define HT_SEM_TD_CONTEXT "https://www.w3.org/2022/wot/td/v1.1"

/* Content types of the MQTT forms: the payloads are not the bare value.
 * Property samples on props/{name} are {"v","ts","seq"}, commands on
 * cmd/{name} {"v"}, and a twin's retained state its whole state object;
 * each is also described in the TD's "schemaDefinitions" ("sample",
 * "command", "twin_state") and named by the form's "additionalResponses"
 * (contract: docs/api.md "MQTT forms"). A twin property's form names
 * the property as a media type parameter ("...twin-state+json;
 * property=NAME"): the value is properties[NAME].value of the state. */
#define HT_SEM_CT_SAMPLE "application/vnd.holotwin.sample+json"
#define HT_SEM_CT_COMMAND "application/vnd.holotwin.command+json"
#define HT_SEM_CT_TWIN_STATE "application/vnd.holotwin.twin-state+json"

/* Largest TD ht_sem_td_parse accepts, in properties and string length. */
#define HT_SEM_MAX_PROPS 256
#define HT_SEM_MAX_STR 1024
/* A property's heartbeat in its TD (ht_sem_prop.max_interval_ms): the key
 * and its largest value (a day). */
#define HT_SEM_MAX_INTERVAL_KEY "ht:maxIntervalMs"
#define HT_SEM_MAX_INTERVAL_MS 86400000

/* "boolean", "integer", "number", "string". Static (borrowed). */
const char *ht_sem_dtype_name(enum ht_sem_dtype t);
/* Parse a type name; HT_OK or HT_EINVAL. */
int ht_sem_dtype_parse(const char *s, enum ht_sem_dtype *out);
/* True for an affordance name of the contract: [a-z0-9_]{1,32}. The same
 * rule as ht_name_valid (common/ht_id.h), which new code calls directly. */
bool ht_sem_name_valid(const char *s);

/* Build a W3C WoT TD 1.1 for t (new reference). Deterministic output. */
json_t *ht_sem_td_build(const struct ht_sem_thing *t,
                        const struct ht_sem_forms *f);

/* Validate a TD received from the network (structure, id, property
 * affordances, known data types) and extract the thing. On error returns
 * HT_EINVAL and a readable message in err; *out stays NULL. *out is new. */
int ht_sem_td_parse(const json_t *td, struct ht_sem_thing **out, char *err,
                    size_t errlen);

/* Outcome of checking a command value against an affordance. The codes are
 * the MQTT ack error codes of the contract. */
enum ht_sem_check {
    HT_SEM_OK = 0,
    HT_SEM_BAD_TYPE,     /* "bad_type" */
    HT_SEM_OUT_OF_RANGE, /* "out_of_range" */
    HT_SEM_READ_ONLY,    /* "read_only" */
};
/* Largest integer magnitude an "integer" value may have: 2^53, the
 * integers a double (JavaScript, the history's REAL column) holds exactly. */
#define HT_SEM_MAX_INT 9007199254740992.0
/* Check v (borrowed) against p's data schema only: type (a scalar of p's
 * type; never null, an array or an object), finite numbers, integers
 * within +-HT_SEM_MAX_INT, min/max, multipleOf, enum and maxLength. For
 * values a device reports (read-only properties included). msg gets a
 * human explanation on failure. O(1) but for enum (linear) and the
 * string length. */
enum ht_sem_check ht_sem_value_valid(const struct ht_sem_prop *p,
                                     const json_t *v, char *msg, size_t msglen);
/* A command value: p must be writable (else HT_SEM_READ_ONLY), then
 * ht_sem_value_valid. v borrowed; msg as there. */
enum ht_sem_check ht_sem_value_check(const struct ht_sem_prop *p,
                                     const json_t *v, char *msg, size_t msglen);
/* "bad_type", "out_of_range", "read_only" or "ok". */
const char *ht_sem_check_code(enum ht_sem_check c);

/* The JSON-LD @context array used by every TD we produce (new reference). */
json_t *ht_sem_context(void);

#endif
