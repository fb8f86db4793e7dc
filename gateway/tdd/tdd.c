/* tdd.c - third-party TDs of the directory, validation, merge patch and
 * JSONPath (tdd.h).
 *
 * Registrations are few (GW_TDD_MAX) and change rarely: they are held as
 * one jansson array under a mutex and each is written to its own file, so
 * a change costs one small atomic write. They are not in the SQLite store
 * (backups do not carry them: docs/api.md). */
#include "gateway/tdd/tdd.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_sha256.h"
#include "ht_util.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MOD "tdd"

struct gw_tdd {
    pthread_mutex_t mu;
    json_t *tds; /* array of TDs, each with a string "id" */
    char *dir;
    uint64_t gen;
};

static char *file_of(const struct gw_tdd *d, const char *id)
{
    char hex[65];
    ht_sha256_hex(id, strlen(id), hex);
    return ht_asprintf("%s/%s.json", d->dir, hex);
}

int gw__tdd_init(struct ht_gw *g, char *err, size_t errlen)
{
    struct gw_tdd *d = ht_calloc(1, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    d->tds = json_array();
    d->dir = ht_asprintf("%s/things", g->conf->data_dir);
    g->tdd = d;
    int rc = ht_mkdir_p(d->dir, 0700);
    if (rc) {
        snprintf(err, errlen, "%s: %s", d->dir, ht_strerror(rc));
        return rc;
    }
    DIR *dir = opendir(d->dir);
    if (!dir) {
        snprintf(err, errlen, "%s: cannot read", d->dir);
        return HT_EIO;
    }
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n != 69 || strcmp(e->d_name + 64, ".json"))
            continue; /* not ours (or a temporary file) */
        char *path = ht_asprintf("%s/%s", d->dir, e->d_name);
        json_error_t je;
        json_t *td = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        const char *id = json_string_value(json_object_get(td, "id"));
        if (!id || json_array_size(d->tds) >= GW_TDD_MAX) {
            ht_log(LOG_WARNING, MOD, "%s: skipped (%s)", path,
                   td ? "no id or too many" : je.text);
            json_decref(td);
        } else {
            json_array_append_new(d->tds, td);
        }
        free(path);
    }
    closedir(dir);
    ht_log(LOG_INFO, MOD, "%zu registered TDs", json_array_size(d->tds));
    return HT_OK;
}

void gw__tdd_clear(struct ht_gw *g)
{
    struct gw_tdd *d = g->tdd;
    if (!d)
        return;
    json_decref(d->tds);
    free(d->dir);
    pthread_mutex_destroy(&d->mu);
    free(d);
    g->tdd = NULL;
}

/* ---- validation ---- */

static void verr(json_t *errs, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void verr(json_t *errs, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(
        errs, json_pack("{s:s, s:s}", "field", field, "description", msg));
}

static bool td_context(const json_t *c)
{
    if (json_is_string(c))
        return !strcmp(json_string_value(c),
                       "https://www.w3.org/2019/wot/td/v1") ||
               !strcmp(json_string_value(c),
                       "https://www.w3.org/2022/wot/td/v1.1");
    size_t i;
    const json_t *v;
    json_array_foreach(c, i, v) if (td_context(v)) return true;
    return false;
}

/* A URI: a scheme ([A-Za-z][A-Za-z0-9+.-]*) and ':', no spaces. */
static bool uri_ok(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    const char *c = s + strspn(s, "abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    return *c == ':' && !strpbrk(s, " \t\r\n\"<>");
}

static bool sec_name_ok(const json_t *defs, const json_t *name)
{
    return json_is_string(name) &&
           json_object_get(defs, json_string_value(name)) != NULL;
}

/* "security" (string or non-empty array) naming defined schemes. */
static void check_security(const json_t *sec, const json_t *defs,
                           const char *field, json_t *errs)
{
    if (json_is_string(sec)) {
        if (!sec_name_ok(defs, sec))
            verr(errs, field, "names no scheme of securityDefinitions");
        return;
    }
    if (!json_is_array(sec) || !json_array_size(sec)) {
        verr(errs, field, "must be a scheme name or an array of them");
        return;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(sec, i, v) if (!sec_name_ok(defs, v))
    {
        verr(errs, field, "names no scheme of securityDefinitions");
        return;
    }
}

json_t *gw__tdd_validate(const json_t *td)
{
    json_t *errs = json_array();
    if (!json_is_object(td)) {
        verr(errs, "(root)", "a Thing Description is a JSON object");
        return errs;
    }
    if (!td_context(json_object_get(td, "@context")))
        verr(errs, "@context",
             "must be or contain https://www.w3.org/2022/wot/td/v1.1 (or "
             "https://www.w3.org/2019/wot/td/v1)");
    const json_t *title = json_object_get(td, "title");
    if (!json_is_string(title) || !json_string_length(title))
        verr(errs, "title", "a non-empty string is required");
    const json_t *id = json_object_get(td, "id");
    if (id && !uri_ok(json_string_value(id)))
        verr(errs, "id", "must be a URI (scheme:...)");
    const json_t *defs = json_object_get(td, "securityDefinitions");
    if (!json_is_object(defs) || !json_object_size(defs)) {
        verr(errs, "securityDefinitions", "a non-empty object is required");
    } else {
        const char *k;
        const json_t *s;
        json_object_foreach((json_t *)defs, k, s)
        {
            const json_t *sc = json_object_get(s, "scheme");
            if (!json_is_string(sc)) {
                char f[160];
                snprintf(f, sizeof f, "securityDefinitions.%.100s.scheme", k);
                verr(errs, f, "a string is required");
            }
        }
    }
    if (!json_object_get(td, "security"))
        verr(errs, "security", "is required");
    else
        check_security(json_object_get(td, "security"), defs, "security", errs);
    static const char *const kinds[] = {"properties", "actions", "events"};
    for (size_t k = 0; k < 3; k++) {
        const json_t *affs = json_object_get(td, kinds[k]);
        if (!affs)
            continue;
        if (!json_is_object(affs)) {
            verr(errs, kinds[k], "must be an object");
            continue;
        }
        const char *name;
        const json_t *a;
        json_object_foreach((json_t *)affs, name, a)
        {
            char f[200];
            snprintf(f, sizeof f, "%s.%.100s.forms", kinds[k], name);
            const json_t *forms = json_object_get(a, "forms");
            if (!json_is_array(forms) || !json_array_size(forms)) {
                verr(errs, f, "a non-empty array of forms is required");
                continue;
            }
            size_t i;
            const json_t *fo;
            json_array_foreach(forms, i, fo)
            {
                if (!json_is_string(json_object_get(fo, "href"))) {
                    snprintf(f, sizeof f, "%s.%.100s.forms[%zu].href", kinds[k],
                             name, i);
                    verr(errs, f, "a string is required");
                }
            }
        }
    }
    return errs;
}

/* ---- registrations ---- */

static ssize_t find(const struct gw_tdd *d, const char *id)
{
    size_t i;
    const json_t *td;
    json_array_foreach(d->tds, i, td)
    {
        if (!strcmp(json_string_value(json_object_get(td, "id")), id))
            return (ssize_t)i;
    }
    return -1;
}

int gw__tdd_put(struct ht_gw *g, const char *id, json_t *td, bool *created)
{
    struct gw_tdd *d = g->tdd;
    char *text = json_dumps(td, JSON_COMPACT);
    char *path = file_of(d, id);
    pthread_mutex_lock(&d->mu);
    ssize_t at = find(d, id);
    int rc = HT_OK;
    if (at < 0 && json_array_size(d->tds) >= GW_TDD_MAX)
        rc = HT_ETOOBIG;
    if (!rc)
        rc = ht_file_write_atomic(path, text, strlen(text), 0600);
    if (!rc) {
        *created = at < 0;
        if (at < 0)
            json_array_append(d->tds, td);
        else
            json_array_set(d->tds, (size_t)at, td);
        d->gen++;
    }
    pthread_mutex_unlock(&d->mu);
    json_decref(td);
    free(text);
    free(path);
    return rc;
}

json_t *gw__tdd_get(struct ht_gw *g, const char *id)
{
    struct gw_tdd *d = g->tdd;
    pthread_mutex_lock(&d->mu);
    ssize_t at = find(d, id);
    json_t *td =
        at < 0 ? NULL : json_deep_copy(json_array_get(d->tds, (size_t)at));
    pthread_mutex_unlock(&d->mu);
    return td;
}

int gw__tdd_delete(struct ht_gw *g, const char *id)
{
    struct gw_tdd *d = g->tdd;
    char *path = file_of(d, id);
    pthread_mutex_lock(&d->mu);
    ssize_t at = find(d, id);
    int rc = HT_ENOENT;
    if (at >= 0) {
        rc = unlink(path) == 0 ? HT_OK : HT_EIO;
        if (!rc) {
            json_array_remove(d->tds, (size_t)at);
            d->gen++;
        }
    }
    pthread_mutex_unlock(&d->mu);
    free(path);
    return rc;
}

json_t *gw__tdd_list(struct ht_gw *g)
{
    struct gw_tdd *d = g->tdd;
    pthread_mutex_lock(&d->mu);
    json_t *a = json_deep_copy(d->tds);
    pthread_mutex_unlock(&d->mu);
    return a;
}

uint64_t gw__tdd_gen(struct ht_gw *g)
{
    struct gw_tdd *d = g->tdd;
    pthread_mutex_lock(&d->mu);
    uint64_t gen = d->gen;
    pthread_mutex_unlock(&d->mu);
    return gen;
}

void gw__tdd_merge_patch(json_t *target, const json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        json_t *t = json_object_get(target, k);
        if (json_is_null(v))
            json_object_del(target, k);
        else if (json_is_object(v) && json_is_object(t))
            gw__tdd_merge_patch(t, v);
        else if (json_is_object(v)) {
            json_t *o = json_object();
            gw__tdd_merge_patch(o, v);
            json_object_set_new(target, k, o);
        } else
            json_object_set_new(target, k, json_deep_copy(v));
    }
}

/* ---- JSONPath ---- */

/* A node set: borrowed values. */
struct nodes {
    const json_t **v;
    size_t n, cap;
};

static void push(struct nodes *s, const json_t *v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = ht_realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = v;
}

/* Every value under v, v first (for ".."). */
static void descend(const json_t *v, struct nodes *out)
{
    push(out, v);
    size_t i;
    const char *k;
    json_t *c;
    if (json_is_array(v)) {
        json_array_foreach(v, i, c) descend(c, out);
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c) descend(c, out);
    }
}

/* Children of v: a member by name, or all (name NULL). */
static void children(const json_t *v, const char *name, struct nodes *out)
{
    size_t i;
    const char *k;
    json_t *c;
    if (name) {
        if ((c = json_object_get(v, name)))
            push(out, c);
        return;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, c) push(out, c);
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c) push(out, c);
    }
}

/* A name after '.' or "..": up to '.', '[' or the end. */
static size_t name_len(const char *p)
{
    return strcspn(p, ".[");
}

/* A quoted string at *p ('...' or "..."), copied into buf; advances *p. */
static bool quoted(const char **p, char *buf, size_t len)
{
    char q = **p;
    if (q != '\'' && q != '"')
        return false;
    const char *e = strchr(*p + 1, q);
    if (!e || (size_t)(e - *p - 1) >= len)
        return false;
    snprintf(buf, len, "%.*s", (int)(e - *p - 1), *p + 1);
    *p = e + 1;
    return true;
}

/* Compare a with the literal b (a JSON value) by op. */
static bool compare(const json_t *a, const char *op, const json_t *b)
{
    int c;
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        c = x < y ? -1 : x > y;
    } else if (json_is_string(a) && json_is_string(b)) {
        c = strcmp(json_string_value(a), json_string_value(b));
    } else {
        bool eq = json_equal((json_t *)a, (json_t *)b);
        return !strcmp(op, "==") ? eq : !strcmp(op, "!=") ? !eq : false;
    }
    if (!strcmp(op, "=="))
        return c == 0;
    if (!strcmp(op, "!="))
        return c != 0;
    if (!strcmp(op, "<"))
        return c < 0;
    if (!strcmp(op, "<="))
        return c <= 0;
    if (!strcmp(op, ">"))
        return c > 0;
    return c >= 0;
}

/* A filter "@.a.b['c'] [op literal]" (text up to the closing ")") applied
 * to the children of each node of in. */
static bool filter(const struct nodes *in, const char *f, size_t flen,
                   struct nodes *out, char *err, size_t errlen)
{
    char buf[512];
    if (flen >= sizeof buf || f[0] != '@') {
        snprintf(err, errlen, "a filter starts with @");
        return false;
    }
    memcpy(buf, f, flen);
    buf[flen] = '\0';
    /* Split off the operator and the literal. */
    static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">"};
    char *opat = NULL;
    const char *op = NULL;
    for (size_t i = 0; i < 6 && !opat; i++) {
        char *x = strstr(buf, ops[i]);
        if (x) {
            opat = x;
            op = ops[i];
        }
    }
    json_t *lit = NULL;
    if (opat) {
        char *l = opat + strlen(op);
        while (*l == ' ')
            l++;
        size_t ll = strlen(l);
        while (ll && l[ll - 1] == ' ')
            l[--ll] = '\0';
        if (ll >= 2 && l[0] == '\'' && l[ll - 1] == '\'') {
            l[ll - 1] = '\0';
            lit = json_string(l + 1);
        } else {
            lit = json_loads(l, JSON_DECODE_ANY, NULL);
        }
        if (!lit) {
            snprintf(err, errlen, "bad literal in filter: %.60s", l);
            return false;
        }
        *opat = '\0';
    }
    size_t pl = strlen(buf);
    while (pl && buf[pl - 1] == ' ')
        buf[--pl] = '\0';
    bool ok = true;
    for (size_t i = 0; i < in->n && ok; i++) {
        struct nodes cand = {0};
        children(in->v[i], NULL, &cand);
        for (size_t j = 0; j < cand.n; j++) {
            const json_t *v = cand.v[j];
            const char *p = buf + 1;
            while (v && *p) {
                char name[256];
                if (*p == '.') {
                    size_t n = name_len(p + 1);
                    if (!n || n >= sizeof name) {
                        ok = false;
                        break;
                    }
                    snprintf(name, sizeof name, "%.*s", (int)n, p + 1);
                    p += 1 + n;
                } else if (*p == '[') {
                    p++;
                    if (!quoted(&p, name, sizeof name) || *p != ']') {
                        ok = false;
                        break;
                    }
                    p++;
                } else {
                    ok = false;
                    break;
                }
                v = json_object_get(v, name);
            }
            if (!ok) {
                snprintf(err, errlen, "bad path in filter: %.60s", buf);
                break;
            }
            if (v && (!lit || compare(v, op, lit)))
                push(out, cand.v[j]);
        }
        free(cand.v);
    }
    json_decref(lit);
    return ok;
}

json_t *gw__tdd_jsonpath(const json_t *root, const char *q, char *err,
                         size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (!q || q[0] != '$') {
        snprintf(err, errlen, "a JSONPath query starts with $");
        return NULL;
    }
    struct nodes cur = {0};
    push(&cur, root);
    const char *p = q + 1;
    bool ok = true;
    while (*p && ok) {
        struct nodes next = {0};
        char name[256];
        if (p[0] == '.' && p[1] == '.') {
            struct nodes all = {0};
            for (size_t i = 0; i < cur.n; i++)
                descend(cur.v[i], &all);
            p += 2;
            if (*p == '*') {
                p++;
                for (size_t i = 0; i < all.n; i++)
                    children(all.v[i], NULL, &next);
            } else if (*p == '[') {
                /* "..[...]": the bracket applies to every descendant. */
                free(cur.v);
                cur = all;
                continue;
            } else {
                size_t n = name_len(p);
                ok = n > 0 && n < sizeof name;
                if (ok) {
                    snprintf(name, sizeof name, "%.*s", (int)n, p);
                    p += n;
                    for (size_t i = 0; i < all.n; i++)
                        children(all.v[i], name, &next);
                }
            }
            free(all.v);
        } else if (p[0] == '.') {
            p++;
            if (*p == '*') {
                p++;
                for (size_t i = 0; i < cur.n; i++)
                    children(cur.v[i], NULL, &next);
            } else {
                size_t n = name_len(p);
                ok = n > 0 && n < sizeof name;
                if (ok) {
                    snprintf(name, sizeof name, "%.*s", (int)n, p);
                    p += n;
                    for (size_t i = 0; i < cur.n; i++)
                        children(cur.v[i], name, &next);
                }
            }
        } else if (p[0] == '[') {
            p++;
            if (p[0] == '*' && p[1] == ']') {
                p += 2;
                for (size_t i = 0; i < cur.n; i++)
                    children(cur.v[i], NULL, &next);
            } else if (p[0] == '?' && p[1] == '(') {
                const char *e = strstr(p, ")]");
                ok = e != NULL;
                if (ok) {
                    ok = filter(&cur, p + 2, (size_t)(e - p - 2), &next, err,
                                errlen);
                    p = e + 2;
                }
                if (!ok && !*err)
                    snprintf(err, errlen, "unterminated filter");
            } else if (quoted(&p, name, sizeof name)) {
                ok = *p == ']';
                if (ok)
                    p++;
                for (size_t i = 0; ok && i < cur.n; i++)
                    children(cur.v[i], name, &next);
            } else {
                char *end;
                long idx = strtol(p, &end, 10);
                ok = end != p && *end == ']';
                if (ok)
                    p = end + 1;
                for (size_t i = 0; ok && i < cur.n; i++) {
                    if (!json_is_array(cur.v[i]))
                        continue;
                    long sz = (long)json_array_size(cur.v[i]);
                    long k = idx < 0 ? sz + idx : idx;
                    if (k >= 0 && k < sz)
                        push(&next, json_array_get(cur.v[i], (size_t)k));
                }
            }
        } else {
            ok = false;
        }
        free(cur.v);
        cur = next;
    }
    if (!ok) {
        if (!*err)
            snprintf(err, errlen,
                     "unsupported JSONPath near '%.40s' (supported: $ .name "
                     "['name'] [n] [*] .* ..name ..* [?(@.path op value)])",
                     p);
        free(cur.v);
        return NULL;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < cur.n; i++)
        json_array_append(out, (json_t *)cur.v[i]);
    free(cur.v);
    return out;
}
