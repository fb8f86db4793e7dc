/* ht_conf.c - configuration tables, JSON loading and error positions. */
#include "ht_conf.h"

#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(cfg, k, T) ((T *)((char *)(cfg) + (k)->offset))

static int set_text(const struct ht_conf_key *k, void *cfg, const char *v,
                    char *err, size_t errlen)
{
    char *end;
    switch (k->type) {
    case HT_CONF_STR: {
        char **s = FIELD(cfg, k, char *);
        free(*s);
        *s = (v && *v) ? ht_strdup(v) : NULL;
        return HT_OK;
    }
    case HT_CONF_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
            *FIELD(cfg, k, bool) = true;
            return HT_OK;
        }
        if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) {
            *FIELD(cfg, k, bool) = false;
            return HT_OK;
        }
        snprintf(err, errlen, "%s: expected true or false, got '%s'", k->key,
                 v);
        return HT_ETYPE;
    case HT_CONF_INT:
    case HT_CONF_DOUBLE: {
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(d)) {
            snprintf(err, errlen, "%s: expected a number, got '%s'", k->key, v);
            return HT_ETYPE;
        }
        if (k->type == HT_CONF_INT && d != floor(d)) {
            snprintf(err, errlen, "%s: expected an integer, got '%s'", k->key,
                     v);
            return HT_ETYPE;
        }
        if (k->min != k->max && (d < k->min || d > k->max)) {
            snprintf(err, errlen, "%s: %s is out of range [%g, %g]", k->key, v,
                     k->min, k->max);
            return HT_ERANGE;
        }
        if (k->type == HT_CONF_INT)
            *FIELD(cfg, k, int) = (int)d;
        else
            *FIELD(cfg, k, double) = d;
        return HT_OK;
    }
    }
    return HT_EINVAL;
}

void ht_conf_defaults(const struct ht_conf_key *tab, void *cfg)
{
    char err[128];
    for (const struct ht_conf_key *k = tab; k->key; k++) {
        if (k->type == HT_CONF_STR)
            *FIELD(cfg, k, char *) = NULL;
        if (k->def) {
            int rc = set_text(k, cfg, k->def, err, sizeof err);
            (void)rc; /* defaults are the programmer's; checked by tests */
        }
    }
}

void ht_conf_clear(const struct ht_conf_key *tab, void *cfg)
{
    for (const struct ht_conf_key *k = tab; k->key; k++) {
        if (k->type == HT_CONF_STR) {
            free(*FIELD(cfg, k, char *));
            *FIELD(cfg, k, char *) = NULL;
        }
    }
}

int ht_conf_set(const struct ht_conf_key *tab, void *cfg, const char *key,
                const char *value, char *err, size_t errlen)
{
    for (const struct ht_conf_key *k = tab; k->key; k++)
        if (!strcmp(k->key, key))
            return set_text(k, cfg, value, err, errlen);
    snprintf(err, errlen, "unknown setting '%s'", key);
    return HT_ENOENT;
}

/* JSON pointer of a dotted key: "a.b" -> "/a/b". */
static void key_ptr(const char *key, char *out, size_t n)
{
    size_t j = 0;
    if (j + 1 < n)
        out[j++] = '/';
    for (const char *p = key; *p && j + 1 < n; p++)
        out[j++] = *p == '.' ? '/' : *p;
    out[j] = '\0';
}

static int apply_json(const struct ht_conf_key *k, void *cfg, json_t *v,
                      const char *path, char *err, size_t errlen)
{
    char ptr[256], buf[64];
    key_ptr(k->key, ptr, sizeof ptr);
    const char *text = NULL;
    switch (k->type) {
    case HT_CONF_STR:
        if (!json_is_string(v) && !json_is_null(v)) {
            ht_conf_errorf(err, errlen, path, ptr, "%s: expected a string",
                           k->key);
            return HT_ETYPE;
        }
        text = json_is_null(v) ? "" : json_string_value(v);
        break;
    case HT_CONF_BOOL:
        if (!json_is_boolean(v)) {
            ht_conf_errorf(err, errlen, path, ptr, "%s: expected true or false",
                           k->key);
            return HT_ETYPE;
        }
        text = json_is_true(v) ? "true" : "false";
        break;
    default:
        if (!json_is_number(v)) {
            ht_conf_errorf(err, errlen, path, ptr, "%s: expected a number",
                           k->key);
            return HT_ETYPE;
        }
        snprintf(buf, sizeof buf, "%.17g", json_number_value(v));
        text = buf;
        break;
    }
    char e2[256];
    int rc = set_text(k, cfg, text, e2, sizeof e2);
    if (rc != HT_OK)
        ht_conf_errorf(err, errlen, path, ptr, "%s", e2);
    return rc;
}

static bool is_section(const char *const *sections, const char *name)
{
    for (; sections && *sections; sections++)
        if (!strcmp(*sections, name))
            return true;
    return false;
}

/* Walk obj and flag any key the table does not know. prefix is the dotted
 * path of obj. */
static int check_unknown(const struct ht_conf_key *tab, json_t *obj,
                         const char *prefix, const char *const *sections,
                         const char *path, char *err, size_t errlen)
{
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v)
    {
        char full[256];
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", name);
        if (!*prefix && is_section(sections, name))
            continue;
        bool known = false, parent = false;
        size_t fl = strlen(full);
        for (const struct ht_conf_key *k = tab; k->key; k++) {
            if (!strcmp(k->key, full))
                known = true;
            else if (!strncmp(k->key, full, fl) && k->key[fl] == '.')
                parent = true;
        }
        if (known)
            continue;
        char ptr[256];
        key_ptr(full, ptr, sizeof ptr);
        if (parent && json_is_object(v)) {
            int rc = check_unknown(tab, v, full, sections, path, err, errlen);
            if (rc != HT_OK)
                return rc;
            continue;
        }
        ht_conf_errorf(err, errlen, path, ptr, "unknown setting '%s'", full);
        return HT_EINVAL;
    }
    return HT_OK;
}

int ht_conf_load(const struct ht_conf_key *tab, void *cfg, const char *path,
                 const char *const *sections, json_t **doc, char *err,
                 size_t errlen)
{
    if (doc)
        *doc = NULL;
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line < 0)
            snprintf(err, errlen, "%s: %s", path, je.text);
        else
            snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column,
                     je.text);
        return je.line < 0 ? HT_ENOENT : HT_EPARSE;
    }
    int rc = HT_OK;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s:1:1: the configuration must be a JSON object",
                 path);
        rc = HT_EINVAL;
        goto out;
    }
    rc = check_unknown(tab, root, "", sections, path, err, errlen);
    if (rc != HT_OK)
        goto out;
    for (const struct ht_conf_key *k = tab; k->key; k++) {
        /* Follow the dotted path through nested objects. */
        json_t *v = root;
        char part[128];
        const char *p = k->key;
        while (v && *p) {
            const char *dot = strchr(p, '.');
            size_t n = dot ? (size_t)(dot - p) : strlen(p);
            if (n >= sizeof part)
                n = sizeof part - 1;
            memcpy(part, p, n);
            part[n] = '\0';
            v = json_is_object(v) ? json_object_get(v, part) : NULL;
            p += n + (dot ? 1 : 0);
        }
        if (!v)
            continue;
        rc = apply_json(k, cfg, v, path, err, errlen);
        if (rc != HT_OK)
            goto out;
    }
out:
    if (rc == HT_OK && doc)
        *doc = root;
    else
        json_decref(root);
    return rc;
}

void ht_conf_print_help(const struct ht_conf_key *tab, FILE *out)
{
    for (const struct ht_conf_key *k = tab; k->key; k++) {
        const char *h = k->help ? k->help : "";
        /* A help text that states its default keeps it alone. An empty
         * string is "empty", not "none": some keys give "none" a meaning
         * of its own (broker.acl_plugin: off, while empty finds it). */
        if (strstr(h, "(default:"))
            fprintf(out, "  %-26s %s\n", k->key, h);
        else
            fprintf(out, "  %-26s %s (default: %s)\n", k->key, h,
                    k->def && *k->def ? k->def : "empty");
    }
}

json_t *ht_conf_dump(const struct ht_conf_key *tab, const void *cfg)
{
    json_t *root = json_object();
    for (const struct ht_conf_key *k = tab; k->key; k++) {
        json_t *obj = root;
        char part[128];
        const char *p = k->key;
        const char *dot;
        while ((dot = strchr(p, '.'))) {
            size_t n = (size_t)(dot - p) < sizeof part ? (size_t)(dot - p)
                                                       : sizeof part - 1;
            memcpy(part, p, n);
            part[n] = '\0';
            json_t *sub = json_object_get(obj, part);
            if (!sub) {
                sub = json_object();
                json_object_set_new(obj, part, sub);
            }
            obj = sub;
            p = dot + 1;
        }
        json_t *v = NULL;
        switch (k->type) {
        case HT_CONF_STR: {
            const char *s = *FIELD(cfg, k, char *const);
            v = s ? json_string(s) : json_null();
            break;
        }
        case HT_CONF_BOOL:
            v = json_boolean(*FIELD(cfg, k, const bool));
            break;
        case HT_CONF_INT:
            v = json_integer(*FIELD(cfg, k, const int));
            break;
        case HT_CONF_DOUBLE:
            v = json_real(*FIELD(cfg, k, const double));
            break;
        }
        json_object_set_new(obj, p, v);
    }
    return root;
}

/* ---- positions: a minimal JSON scanner that tracks line and column ---- */

struct scan {
    const char *s;
    int line, col;
    const char *want; /* remaining JSON pointer */
    int fline, fcol;
    bool found;
    int kline, kcol; /* the key, when the pointer names an object member */
    bool kfound;
};

static void adv(struct scan *sc)
{
    if (*sc->s == '\n') {
        sc->line++;
        sc->col = 1;
    } else {
        sc->col++;
    }
    sc->s++;
}

static void ws(struct scan *sc)
{
    while (*sc->s == ' ' || *sc->s == '\t' || *sc->s == '\n' || *sc->s == '\r')
        adv(sc);
}

/* Scan a string; if out != NULL copy up to n-1 raw bytes of it. */
static bool scan_string(struct scan *sc, char *out, size_t n)
{
    size_t j = 0;
    if (*sc->s != '"')
        return false;
    adv(sc);
    while (*sc->s && *sc->s != '"') {
        if (*sc->s == '\\') {
            adv(sc);
            if (!*sc->s)
                return false;
        }
        if (out && j + 1 < n)
            out[j++] = *sc->s;
        adv(sc);
    }
    if (out)
        out[j] = '\0';
    if (*sc->s != '"')
        return false;
    adv(sc);
    return true;
}

/* Does the next pointer segment of want equal seg? Advances want if so. */
static bool seg_match(const char **want, const char *seg)
{
    const char *w = *want;
    if (*w != '/')
        return false;
    w++;
    size_t n = strcspn(w, "/");
    if (strlen(seg) != n || strncmp(w, seg, n))
        return false;
    *want = w + n;
    return true;
}

static bool scan_value(struct scan *sc, const char *want)
{
    ws(sc);
    if (want && !*want && !sc->found) {
        sc->found = true;
        sc->fline = sc->line;
        sc->fcol = sc->col;
    }
    char c = *sc->s;
    if (c == '{') {
        adv(sc);
        ws(sc);
        if (*sc->s == '}') {
            adv(sc);
            return true;
        }
        for (;;) {
            char key[128];
            ws(sc);
            int kl = sc->line, kc = sc->col;
            if (!scan_string(sc, key, sizeof key))
                return false;
            const char *sub = want;
            bool m = sub && *sub && seg_match(&sub, key);
            if (m && !*sub && !sc->kfound) {
                sc->kfound = true;
                sc->kline = kl;
                sc->kcol = kc;
            }
            ws(sc);
            if (*sc->s != ':')
                return false;
            adv(sc);
            if (!scan_value(sc, m ? sub : NULL))
                return false;
            ws(sc);
            if (*sc->s == ',') {
                adv(sc);
                continue;
            }
            if (*sc->s == '}') {
                adv(sc);
                return true;
            }
            return false;
        }
    }
    if (c == '[') {
        adv(sc);
        ws(sc);
        if (*sc->s == ']') {
            adv(sc);
            return true;
        }
        for (unsigned i = 0;; i++) {
            char idx[16];
            snprintf(idx, sizeof idx, "%u", i);
            const char *sub = want;
            bool m = sub && *sub && seg_match(&sub, idx);
            if (!scan_value(sc, m ? sub : NULL))
                return false;
            ws(sc);
            if (*sc->s == ',') {
                adv(sc);
                continue;
            }
            if (*sc->s == ']') {
                adv(sc);
                return true;
            }
            return false;
        }
    }
    if (c == '"')
        return scan_string(sc, NULL, 0);
    if (!c)
        return false;
    while (*sc->s && !strchr(",}] \t\r\n", *sc->s))
        adv(sc);
    return true;
}

int ht_conf_locate(const char *text, const char *ptr, int *line, int *col)
{
    struct scan sc = {.s = text, .line = 1, .col = 1};
    scan_value(&sc, ptr);
    /* Prefer the value; a member whose value could not be scanned (a
     * syntax error after it) still has its key. */
    if (sc.found) {
        *line = sc.fline;
        *col = sc.fcol;
    } else if (sc.kfound) {
        *line = sc.kline;
        *col = sc.kcol;
    } else {
        return HT_ENOENT;
    }
    return HT_OK;
}

void ht_conf_errorf(char *err, size_t errlen, const char *path, const char *ptr,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *text = NULL;
    int line, col;
    if (path && ht_file_read(path, 16u << 20, &text, NULL) == HT_OK &&
        ht_conf_locate(text, ptr, &line, &col) == HT_OK)
        snprintf(err, errlen, "%s:%d:%d: %s", path, line, col, msg);
    else
        snprintf(err, errlen, "%s: %s", path ? path : "config", msg);
    free(text);
}
