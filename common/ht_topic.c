/* ht_topic.c - the MQTT topic contract as one table.
 *
 * Every topic is {prefix}[/{root}/{id}]/{leaf}[/{name}]; the table below
 * says which kinds have which levels, so the builder, the filter builder
 * and the parser cannot disagree about a shape. Levels that come from
 * outside (ids, names) are validated on the way in and on the way out:
 * a hostile id never reaches the broker, and a hostile topic never reaches
 * a handler.
 */
#include "ht_topic.h"

#include "ht_err.h"

#include <stdio.h>
#include <string.h>

struct shape {
    const char *root; /* "devices", "twins", "gateway", "apps"; NULL: no
                         {id} */
    const char *leaf;
    bool has_name;
};

static const struct shape shapes[] = {
    [HT_TOPIC_DEV_TD] = {"devices", "td", false},
    [HT_TOPIC_DEV_STATUS] = {"devices", "status", false},
    [HT_TOPIC_DEV_PROP] = {"devices", "props", true},
    [HT_TOPIC_DEV_CMD] = {"devices", "cmd", true},
    [HT_TOPIC_DEV_ACK] = {"devices", "ack", false},
    [HT_TOPIC_DEV_SYNC] = {"devices", "sync", false},
    [HT_TOPIC_SYNC] = {NULL, "sync", false},
    [HT_TOPIC_GW_ACK] = {"gateway", "ack", false},
    [HT_TOPIC_TWIN_STATE] = {"twins", "state", false},
    [HT_TOPIC_TWIN_UI] = {"twins", "ui", true},
    [HT_TOPIC_TWIN_ALARMS] = {"twins", "alarms", false},
    [HT_TOPIC_APP_REQ] = {"apps", "request", false},
    [HT_TOPIC_APP_REPLY] = {"apps", "reply", false},
    [HT_TOPIC_TWIN_CONTROL] = {"twins", "control", false},
    [HT_TOPIC_APP_STATUS] = {"apps", "status", false},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static const struct shape *shape_of(enum ht_topic_kind kind)
{
    if ((unsigned)kind >= NSHAPES || !shapes[kind].leaf)
        return NULL;
    return &shapes[kind];
}

bool ht_topic_prefix_valid(const char *prefix)
{
    if (!prefix)
        return false;
    size_t n = strnlen(prefix, HT_TOPIC_PREFIX_MAX + 1);
    return n > 0 && n <= HT_TOPIC_PREFIX_MAX && !strpbrk(prefix, "+#") &&
           prefix[n - 1] != '/';
}

bool ht_topic_has_id(enum ht_topic_kind kind)
{
    const struct shape *s = shape_of(kind);
    return s && s->root;
}

bool ht_topic_has_name(enum ht_topic_kind kind)
{
    const struct shape *s = shape_of(kind);
    return s && s->has_name;
}

/* Writes the levels once they are known to be valid (or "+"). Pieces are
 * copied, not formatted: a topic is built per command and per retained
 * twin publish, where snprintf's parsing cost more than the copy. */
static int emit(char *buf, size_t bufsize, const char *prefix,
                const struct shape *s, const char *id, const char *name)
{
    const char *part[8] = {prefix,
                           s->root ? "/" : "",
                           s->root ? s->root : "",
                           s->root ? "/" : "",
                           s->root ? id : "",
                           "/",
                           s->leaf,
                           s->has_name ? "/" : ""};
    size_t n = 0;
    for (int i = 0; i < 9; i++) {
        const char *p = i < 8 ? part[i] : s->has_name ? name : "";
        size_t l = strlen(p);
        if (n + l >= bufsize) {
            if (bufsize)
                buf[0] = '\0';
            return HT_ETOOBIG;
        }
        memcpy(buf + n, p, l);
        n += l;
    }
    buf[n] = '\0';
    return (int)n;
}

static int fail(char *buf, size_t bufsize)
{
    if (bufsize)
        buf[0] = '\0';
    return HT_EINVAL;
}

int ht_topic_build(char *buf, size_t bufsize, const char *prefix,
                   enum ht_topic_kind kind, const char *id, const char *name)
{
    const struct shape *s = shape_of(kind);
    if (!prefix)
        prefix = HT_TOPIC_PREFIX_DEFAULT;
    if (!s || !ht_topic_prefix_valid(prefix) ||
        (s->root ? !ht_id_valid(id) : id != NULL) ||
        (s->has_name ? !ht_name_valid(name) : name != NULL))
        return fail(buf, bufsize);
    return emit(buf, bufsize, prefix, s, id, name);
}

int ht_topic_filter(char *buf, size_t bufsize, const char *prefix,
                    enum ht_topic_kind kind, const char *id)
{
    const struct shape *s = shape_of(kind);
    if (!prefix)
        prefix = HT_TOPIC_PREFIX_DEFAULT;
    if (!s || !ht_topic_prefix_valid(prefix) ||
        (id && (!s->root || !ht_id_valid(id))))
        return fail(buf, bufsize);
    return emit(buf, bufsize, prefix, s, id ? id : "+", "+");
}

/* The next '/'-separated level of *p: its start and length; *p moves past
 * it. False at the end of the topic. */
static bool next_level(const char **p, const char **lvl, size_t *len)
{
    if (!*p)
        return false;
    const char *slash = strchr(*p, '/');
    *lvl = *p;
    *len = slash ? (size_t)(slash - *p) : strlen(*p);
    *p = slash ? slash + 1 : NULL;
    return true;
}

static bool level_is(const char *lvl, size_t len, const char *word)
{
    return len == strlen(word) && !memcmp(lvl, word, len);
}

/* Copies a level into a fixed buffer of max+1 bytes; false when longer. */
static bool copy_level(char *dst, size_t max, const char *lvl, size_t len)
{
    if (len > max)
        return false;
    memcpy(dst, lvl, len);
    dst[len] = '\0';
    return true;
}

int ht_topic_parse(const char *topic, const char *prefix, struct ht_topic *out)
{
    memset(out, 0, sizeof *out);
    if (!prefix)
        prefix = HT_TOPIC_PREFIX_DEFAULT;
    size_t pl = strlen(prefix);
    if (!topic || strncmp(topic, prefix, pl) || topic[pl] != '/')
        return HT_EINVAL;
    const char *p = topic + pl + 1, *root, *leaf, *lvl;
    size_t rootlen, leaflen, len;
    if (!next_level(&p, &root, &rootlen))
        return HT_EINVAL;
    enum ht_topic_kind kind = HT_TOPIC_NONE;
    if (level_is(root, rootlen, "sync") && !p) {
        out->kind = HT_TOPIC_SYNC;
        return HT_OK;
    }
    if (!next_level(&p, &lvl, &len) ||
        !copy_level(out->id, HT_ID_MAX, lvl, len) || !ht_id_valid(out->id) ||
        !next_level(&p, &leaf, &leaflen))
        goto bad;
    for (size_t k = 0; k < NSHAPES && !kind; k++)
        if (shapes[k].root && level_is(root, rootlen, shapes[k].root) &&
            level_is(leaf, leaflen, shapes[k].leaf))
            kind = (enum ht_topic_kind)k;
    if (!kind)
        goto bad;
    if (shapes[kind].has_name &&
        (!next_level(&p, &lvl, &len) ||
         !copy_level(out->name, HT_NAME_MAX, lvl, len) ||
         !ht_name_valid(out->name)))
        goto bad;
    if (p) /* levels left over */
        goto bad;
    out->kind = kind;
    return HT_OK;
bad:
    memset(out, 0, sizeof *out);
    return HT_EINVAL;
}

/* ---- Home Assistant MQTT discovery ---- */

bool ht_topic_ha_id_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = strnlen(s, HT_TOPIC_HA_ID_MAX + 1);
    return n > 0 && n <= HT_TOPIC_HA_ID_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_-") == n;
}

static int ha_out(char *buf, size_t bufsize, int n)
{
    if (n < 0 || (size_t)n >= bufsize) {
        if (bufsize)
            buf[0] = '\0';
        return HT_ETOOBIG;
    }
    return n;
}

int ht_topic_ha_config(char *buf, size_t bufsize, const char *dprefix,
                       const char *component, const char *node,
                       const char *object)
{
    static const char *const comps[] = {"sensor", "binary_sensor", "switch",
                                        "number"};
    bool known = false;
    for (size_t i = 0; component && i < sizeof comps / sizeof comps[0]; i++)
        known |= !strcmp(component, comps[i]);
    if (!known || !ht_topic_prefix_valid(dprefix) ||
        !ht_topic_ha_id_valid(node) || !ht_topic_ha_id_valid(object)) {
        if (bufsize)
            buf[0] = '\0';
        return HT_EINVAL;
    }
    return ha_out(buf, bufsize,
                  snprintf(buf, bufsize, "%s/%s/%s/%s/config", dprefix,
                           component, node, object));
}

int ht_topic_ha_status(char *buf, size_t bufsize, const char *dprefix)
{
    if (!ht_topic_prefix_valid(dprefix)) {
        if (bufsize)
            buf[0] = '\0';
        return HT_EINVAL;
    }
    return ha_out(buf, bufsize, snprintf(buf, bufsize, "%s/status", dprefix));
}
