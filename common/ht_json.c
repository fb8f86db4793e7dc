/* ht_json.c - compact JSON text of a jansson value, byte for byte what
 * json_dumps writes with JSON_COMPACT | JSON_ENCODE_ANY (and
 * JSON_SORT_KEYS on request), without its per-token callback and the
 * snprintf per integer. jansson's rules followed here: objects in insertion
 * order (or keys by strcmp), strings escaped as dump_string does without
 * JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH ('"', '\\', control characters,
 * \u%04X for those without a short form), reals as "%.17g" with ".0"
 * added when neither '.' nor 'e' appears and the exponent's '+' and
 * leading zeros removed.
 */
#include "ht_json.h"

#include "ht_mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(struct ht_jbuf *b, size_t more)
{
    if (b->n + more <= b->cap)
        return;
    /* a twin's state or event text is 0.5-2 KB: fewer regrowths */
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + more)
        cap *= 2;
    b->p = ht_realloc(b->p, cap);
    b->cap = cap;
}

void ht_jbuf_raw(struct ht_jbuf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void putc_(struct ht_jbuf *b, char c)
{
    reserve(b, 1);
    b->p[b->n++] = c;
}

void ht_jbuf_int(struct ht_jbuf *b, int64_t v)
{
    char tmp[24], *e = tmp + sizeof tmp, *s = e;
    /* Unsigned arithmetic: -INT64_MIN does not overflow. */
    unsigned long long u =
        v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--s = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--s = '-';
    ht_jbuf_raw(b, s, (size_t)(e - s));
}

/* jansson's jsonp_dtostr with precision 17 (the C locale's '.'). */
static void put_real(struct ht_jbuf *b, double d)
{
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp - 3, "%.17g", d);
    if (n < 0 || n >= (int)sizeof tmp - 3)
        n = 0;
    size_t len = (size_t)n;
    if (!memchr(tmp, '.', len) && !memchr(tmp, 'e', len)) {
        tmp[len++] = '.';
        tmp[len++] = '0';
        tmp[len] = '\0';
    }
    char *start = memchr(tmp, 'e', len);
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - tmp) + 1);
            len -= (size_t)(end - start);
        }
    }
    ht_jbuf_raw(b, tmp, len);
}

/* jansson's dump_string: runs of plain bytes copied at once; UTF-8 is
 * valid in every jansson string, and bytes >= 0x80 are written as is. */
void ht_jbuf_str(struct ht_jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    reserve(b, n + 2);
    b->p[b->n++] = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ht_jbuf_raw(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
            break;
        }
        ht_jbuf_raw(b, esc, el);
    }
    ht_jbuf_raw(b, s + run, n - run);
    putc_(b, '"');
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void dump_object(struct ht_jbuf *b, const json_t *o, bool sort)
{
    size_t n = json_object_size(o);
    putc_(b, '{');
    if (!sort || n < 2) {
        const char *k;
        json_t *x;
        size_t i = 0;
        json_object_foreach((json_t *)o, k, x)
        {
            if (i++)
                putc_(b, ',');
            ht_jbuf_str(b, k, strlen(k));
            putc_(b, ':');
            ht_jbuf_json(b, x, sort);
        }
    } else {
        const char *stack[32];
        const char **keys = n <= 32 ? stack : ht_malloc(n * sizeof *keys);
        size_t i = 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)o, k, x) keys[i++] = k;
        qsort(keys, n, sizeof *keys, cmp_key);
        for (i = 0; i < n; i++) {
            if (i)
                putc_(b, ',');
            ht_jbuf_str(b, keys[i], strlen(keys[i]));
            putc_(b, ':');
            ht_jbuf_json(b, json_object_get(o, keys[i]), sort);
        }
        if (keys != stack)
            free(keys);
    }
    putc_(b, '}');
}

void ht_jbuf_json(struct ht_jbuf *b, const json_t *v, bool sort)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        dump_object(b, v, sort);
        break;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        putc_(b, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                putc_(b, ',');
            ht_jbuf_json(b, json_array_get(v, i), sort);
        }
        putc_(b, ']');
        break;
    }
    case JSON_STRING:
        ht_jbuf_str(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        ht_jbuf_int(b, json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        ht_jbuf_raw(b, "true", 4);
        break;
    case JSON_FALSE:
        ht_jbuf_raw(b, "false", 5);
        break;
    case JSON_NULL:
        ht_jbuf_raw(b, "null", 4);
        break;
    }
}

char *ht_json_dumps(const json_t *v, bool sort, size_t *len)
{
    if (len)
        *len = 0;
    if (!v)
        return NULL;
    struct ht_jbuf b = {0};
    ht_jbuf_json(&b, v, sort);
    return ht_jbuf_take(&b, len);
}

char *ht_jbuf_take(struct ht_jbuf *b, size_t *len)
{
    putc_(b, '\0');
    if (len)
        *len = b->n - 1;
    char *p = b->p;
    memset(b, 0, sizeof *b);
    return p;
}
