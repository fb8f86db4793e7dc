/* uidesc.h - UI descriptors generated from a twin and its semantics.
 *
 * A UI descriptor ("schema": "holotwin.ui/1", JSON Schema in
 * ui-descriptors/schema/ui-descriptor.schema.json, explained in
 * docs/ui-descriptors.md) lists abstract widgets bound to twin properties,
 * with their data schema, writability for the caller's role and interaction
 * policy, plus a 2D grid layout (target "web") or a 3D scene with spatial
 * panels (target "hmd").
 *
 * No I/O. Deterministic: the same inputs give the same bytes.
 * Not thread-safe per object; the functions keep no state.
 */
#ifndef HT_UIDESC_H
#define HT_UIDESC_H

#include "semantics/semantics.h"
#include "twins/twin.h"

#include <jansson.h>
#include <stddef.h>

#define HT_UI_SCHEMA "holotwin.ui/1"

enum ht_ui_target {
    HT_UI_WEB,
    HT_UI_HMD,
};

enum ht_ui_role {
    HT_UI_VIEWER,
    HT_UI_OPERATOR,
    HT_UI_TECHNICIAN,
    HT_UI_ADMIN,
};

/* "web"/"hmd", "viewer"/...; static (borrowed). */
const char *ht_ui_target_name(enum ht_ui_target t);
const char *ht_ui_role_name(enum ht_ui_role r);
/* Parse a name: HT_OK or HT_EINVAL. */
int ht_ui_target_parse(const char *s, enum ht_ui_target *out);
int ht_ui_role_parse(const char *s, enum ht_ui_role *out);

/* What the generator needs besides the model. All borrowed. */
struct ht_ui_input {
    const struct ht_twin_model *model;
    /* Things of the bound devices (types, ranges, units when the model is
     * silent); may be NULL/0. */
    const struct ht_sem_thing *const *devs;
    size_t ndevs;
    enum ht_ui_target target;
    enum ht_ui_role role;     /* writable = writable && role >= operator */
    const char *http_base;    /* "http://gw:8080" or NULL: relative URLs */
    const char *mqtt_base;    /* "mqtt://gw:1883" or NULL: no MQTT forms */
    const char *topic_prefix; /* NULL: "holotwin/v1" */
};

/* Build the descriptor (new reference) or NULL with a message in err
 * (missing model, invalid bases). */
json_t *ht_ui_generate(const struct ht_ui_input *in, char *err, size_t errlen);

/* Serialise a descriptor canonically (JSON_SORT_KEYS | JSON_COMPACT):
 * *out is new (free()), *len its length. HT_OK or HT_EINVAL. */
int ht_ui_serialize(const json_t *desc, char **out, size_t *len);

/* The ETag of serialised bytes: "\"" + 16 hex digits of SHA-256 + "\"",
 * written to etag (at least HT_UI_ETAG_LEN bytes). */
#define HT_UI_ETAG_LEN 19
void ht_ui_etag(const void *buf, size_t len, char etag[HT_UI_ETAG_LEN]);

/* Generate, serialise and hash in one go: *out new bytes, etag filled.
 * HT_OK or HT_EINVAL (message in err). */
int ht_ui_render(const struct ht_ui_input *in, char **out, size_t *len,
                 char etag[HT_UI_ETAG_LEN], char *err, size_t errlen);

#endif
