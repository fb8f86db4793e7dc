/* acl.c - judging a subscription filter against acl_file read rules.
 *
 * Built into a broker plugin, so it uses plain libc allocation (the
 * plugin runs inside mosquitto, which has its own out-of-memory policy):
 * on allocation failure rules are dropped, which only ever refuses more.
 */
#include "acl.h"

#include <stdlib.h>
#include <string.h>

enum { ACL_READ = 1, ACL_WRITE = 2 };

struct rule {
    char *user; /* NULL: anonymous section (topic) or everyone (pattern) */
    char *topic;
    unsigned access;
    bool pattern;
};

struct ht_acl {
    struct rule *r;
    size_t n;
};

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Next whitespace-separated word of line [*p, end). */
static bool word(const char **p, const char *end, const char **w, size_t *n)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    const char *e = s;
    while (e < end && *e != ' ' && *e != '\t')
        e++;
    *w = s;
    *n = (size_t)(e - s);
    *p = e;
    return e > s;
}

static bool is(const char *w, size_t n, const char *lit)
{
    return strlen(lit) == n && !memcmp(w, lit, n);
}

static void add(struct ht_acl *a, const char *user, const char *topic,
                size_t tn, unsigned access, bool pattern)
{
    struct rule *r = realloc(a->r, (a->n + 1) * sizeof *r);
    if (!r)
        return;
    a->r = r;
    struct rule *x = &r[a->n];
    x->user = user ? strdup(user) : NULL;
    x->topic = dup_n(topic, tn);
    x->access = access;
    x->pattern = pattern;
    if ((user && !x->user) || !x->topic) {
        free(x->user);
        free(x->topic);
        return;
    }
    a->n++;
}

/* Parsed the way mosquitto reads the file: the topic is the rest of the
 * line after the access word (topics may hold spaces). */
struct ht_acl *ht_acl_parse(const char *text)
{
    struct ht_acl *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    char *user = NULL;
    const char *p = text ? text : "";
    while (*p) {
        const char *end = strchr(p, '\n');
        if (!end)
            end = p + strlen(p);
        const char *next = *end ? end + 1 : end;
        while (end > p && (end[-1] == '\r' || end[-1] == ' '))
            end--;
        const char *s = p, *w;
        size_t n;
        if (word(&s, end, &w, &n) && w[0] != '#') {
            bool pattern = is(w, n, "pattern");
            if (is(w, n, "user")) {
                free(user);
                user = NULL;
                while (s < end && (*s == ' ' || *s == '\t'))
                    s++;
                if (s < end)
                    user = dup_n(s, (size_t)(end - s));
            } else if (pattern || is(w, n, "topic")) {
                unsigned access = ACL_READ | ACL_WRITE;
                const char *save = s;
                if (word(&s, end, &w, &n)) {
                    if (is(w, n, "read"))
                        access = ACL_READ;
                    else if (is(w, n, "write"))
                        access = ACL_WRITE;
                    else if (is(w, n, "deny"))
                        access = 0;
                    else if (!is(w, n, "readwrite"))
                        s = save; /* no access word: readwrite */
                }
                while (s < end && (*s == ' ' || *s == '\t'))
                    s++;
                if (s < end && access)
                    add(a, pattern ? NULL : user, s, (size_t)(end - s), access,
                        pattern);
            }
        }
        p = next;
    }
    free(user);
    return a;
}

void ht_acl_free(struct ht_acl *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->r[i].user);
        free(a->r[i].topic);
    }
    free(a->r);
    free(a);
}

/* Level by level: '#' in the rule covers the rest; '+' covers any one
 * level of the filter except a '#'; a literal covers only itself. */
bool ht_acl_filter_covers(const char *rule, const char *filter)
{
    const char *r = rule, *f = filter;
    for (;;) {
        size_t rn = strcspn(r, "/"), fn = strcspn(f, "/");
        if (rn == 1 && r[0] == '#')
            return true;
        if (fn == 1 && f[0] == '#')
            return false;
        if (!(rn == 1 && r[0] == '+') && (rn != fn || memcmp(r, f, rn)))
            return false;
        bool rend = r[rn] == '\0', fend = f[fn] == '\0';
        if (rend || fend) {
            /* "a/#" also matches "a" itself. */
            return rend == fend || (fend && !strcmp(r + rn, "/#"));
        }
        r += rn + 1;
        f += fn + 1;
    }
}

/* mosquitto substitutes %u and %c only when the value cannot act as a
 * wildcard or a level separator; so do we. */
static char *substitute(const char *t, const char *user, const char *cid)
{
    size_t len = strlen(t) + 1;
    size_t ul = user ? strlen(user) : 0, cl = cid ? strlen(cid) : 0;
    for (const char *p = strchr(t, '%'); p; p = strchr(p + 1, '%'))
        len += ul > cl ? ul : cl;
    char *out = malloc(len), *o = out;
    if (!out)
        return NULL;
    for (const char *p = t; *p; p++) {
        if (p[0] == '%' && (p[1] == 'u' || p[1] == 'c')) {
            const char *v = p[1] == 'u' ? user : cid;
            if (!v || !*v || strpbrk(v, "+#/")) {
                free(out);
                return NULL;
            }
            size_t vl = strlen(v);
            memcpy(o, v, vl);
            o += vl;
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

bool ht_acl_may_subscribe(const struct ht_acl *a, const char *user,
                          const char *clientid, const char *filter)
{
    if (!a || !filter)
        return false;
    if (!strncmp(filter, "$share/", 7)) {
        const char *s = strchr(filter + 7, '/');
        if (!s)
            return false;
        filter = s + 1;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct rule *r = &a->r[i];
        if (!(r->access & ACL_READ))
            continue;
        if (!r->pattern) {
            bool mine = user ? r->user && !strcmp(r->user, user) : !r->user;
            if (mine && ht_acl_filter_covers(r->topic, filter))
                return true;
            continue;
        }
        char *t = substitute(r->topic, user, clientid);
        bool ok = t && ht_acl_filter_covers(t, filter);
        free(t);
        if (ok)
            return true;
    }
    return false;
}
