/* ht_topic.h - the MQTT topic contract (DESIGN.md, "MQTT"), built and
 * parsed in one place for a configurable prefix:
 *
 *   {p}/devices/{id}/td            HT_TOPIC_DEV_TD
 *   {p}/devices/{id}/status        HT_TOPIC_DEV_STATUS
 *   {p}/devices/{id}/props/{name}  HT_TOPIC_DEV_PROP
 *   {p}/devices/{id}/cmd/{name}    HT_TOPIC_DEV_CMD
 *   {p}/devices/{id}/ack           HT_TOPIC_DEV_ACK   (command responses)
 *   {p}/devices/{id}/sync          HT_TOPIC_DEV_SYNC  (republish one board)
 *   {p}/sync                       HT_TOPIC_SYNC      (republish all boards)
 *   {p}/gateway/{id}/ack           HT_TOPIC_GW_ACK    (legacy shared acks)
 *   {p}/twins/{twin}/state         HT_TOPIC_TWIN_STATE
 *   {p}/twins/{twin}/ui/{target}   HT_TOPIC_TWIN_UI
 *   {p}/twins/{twin}/alarms        HT_TOPIC_TWIN_ALARMS (alarm summary)
 *   {p}/twins/{twin}/control       HT_TOPIC_TWIN_CONTROL (who holds it)
 *   {p}/apps/{account}/request     HT_TOPIC_APP_REQ   (an app's commands)
 *   {p}/apps/{account}/reply       HT_TOPIC_APP_REPLY (the gateway's answers)
 *   {p}/apps/{account}/status      HT_TOPIC_APP_STATUS (an app's presence,
 *                                  retained, with a Will: control leases)
 *
 * Home Assistant MQTT discovery (outside the prefix, under HA's own
 * discovery prefix {d}, default "homeassistant"):
 *   {d}/{component}/{node}/{object}/config   ht_topic_ha_config
 *   {d}/status                              ht_topic_ha_status (HA's birth)
 *
 * Ids are checked with ht_id_valid, names and UI targets with
 * ht_name_valid, so no level built or parsed here can hold '+', '#', '/'
 * or "..". Pure (libhtbase.a): no allocation, no I/O; any thread.
 */
#ifndef HT_TOPIC_H
#define HT_TOPIC_H

#include "ht_id.h"

#include <stdbool.h>
#include <stddef.h>

#define HT_TOPIC_PREFIX_DEFAULT "holotwin/v1"
/* Longest prefix accepted (bytes, without the NUL). */
#define HT_TOPIC_PREFIX_MAX 128
/* A buffer of this size holds every topic or filter of the contract for
 * any valid prefix, id and name: builders into it never truncate. */
#define HT_TOPIC_MAX 256

enum ht_topic_kind {
    HT_TOPIC_NONE = 0,
    HT_TOPIC_DEV_TD,
    HT_TOPIC_DEV_STATUS,
    HT_TOPIC_DEV_PROP,
    HT_TOPIC_DEV_CMD,
    HT_TOPIC_DEV_ACK,
    HT_TOPIC_DEV_SYNC,
    HT_TOPIC_SYNC,
    HT_TOPIC_GW_ACK,
    HT_TOPIC_TWIN_STATE,
    HT_TOPIC_TWIN_UI,
    HT_TOPIC_TWIN_ALARMS,
    HT_TOPIC_APP_REQ,
    HT_TOPIC_APP_REPLY,
    HT_TOPIC_TWIN_CONTROL,
    HT_TOPIC_APP_STATUS,
};

/* A received topic split into its parts (copies: valid after the topic's
 * buffer is gone). id is "" for HT_TOPIC_SYNC, name "" for kinds without
 * one; for HT_TOPIC_TWIN_UI name is the target ("web", "hmd"). */
struct ht_topic {
    enum ht_topic_kind kind;
    char id[HT_ID_MAX + 1];
    char name[HT_NAME_MAX + 1];
};

/* True when prefix (borrowed) can start a topic: 1..HT_TOPIC_PREFIX_MAX
 * bytes, no '+' or '#', no trailing '/'. NULL is invalid. */
bool ht_topic_prefix_valid(const char *prefix);

/* True when kind's topic has an {id} level / a {name} level. */
bool ht_topic_has_id(enum ht_topic_kind kind);
bool ht_topic_has_name(enum ht_topic_kind kind);

/* Build the topic of kind into buf (bufsize bytes, always NUL-terminated
 * when bufsize > 0). prefix NULL means HT_TOPIC_PREFIX_DEFAULT; id and
 * name (borrowed) are required exactly when the kind has that level and
 * must be NULL otherwise. Returns the topic's length (> 0), HT_EINVAL for
 * an invalid prefix, id, name or kind (buf ""), or HT_ETOOBIG when it does
 * not fit (buf ""). */
int ht_topic_build(char *buf, size_t bufsize, const char *prefix,
                   enum ht_topic_kind kind, const char *id, const char *name);

/* Build a subscription filter for kind: like ht_topic_build, but a NULL id
 * becomes '+' (every device or twin) and the name level, when the kind has
 * one, is always '+'. name is not taken. E.g. (DEV_TD, NULL) gives
 * "{p}/devices/+/td", (DEV_CMD, "b1") "{p}/devices/b1/cmd/+". Same returns
 * as ht_topic_build. */
int ht_topic_filter(char *buf, size_t bufsize, const char *prefix,
                    enum ht_topic_kind kind, const char *id);

/* Split topic (borrowed) received under prefix (NULL: the default) into
 * *out. Returns HT_OK, or HT_EINVAL (out->kind HT_TOPIC_NONE, id and name
 * "") for another prefix, an unknown shape, extra or empty levels, or a
 * level that is not a valid id or name (wildcards, '/', ".."). */
int ht_topic_parse(const char *topic, const char *prefix, struct ht_topic *out);

/* ---- Home Assistant MQTT discovery ---- */

/* Default discovery prefix of Home Assistant. */
#define HT_TOPIC_HA_PREFIX_DEFAULT "homeassistant"

/* True when s is a valid HA node or object id: 1..HT_TOPIC_HA_ID_MAX
 * bytes of [a-zA-Z0-9_-] (HA's discovery topic pattern). */
#define HT_TOPIC_HA_ID_MAX 160
/* A buffer of this size holds every discovery topic: builders into it
 * never truncate. */
#define HT_TOPIC_HA_MAX (HT_TOPIC_PREFIX_MAX + 2 * HT_TOPIC_HA_ID_MAX + 32)
bool ht_topic_ha_id_valid(const char *s);

/* {dprefix}/{component}/{node}/{object}/config into buf (same buffer rules
 * as ht_topic_build). dprefix must pass ht_topic_prefix_valid, component
 * be "sensor", "binary_sensor", "switch" or "number", node and object
 * pass ht_topic_ha_id_valid (all borrowed). Length (> 0), HT_EINVAL or
 * HT_ETOOBIG (buf ""). */
int ht_topic_ha_config(char *buf, size_t bufsize, const char *dprefix,
                       const char *component, const char *node,
                       const char *object);

/* {dprefix}/status: where Home Assistant announces "online" (its birth
 * message) and "offline". Same returns as ht_topic_ha_config. */
int ht_topic_ha_status(char *buf, size_t bufsize, const char *dprefix);

#endif
