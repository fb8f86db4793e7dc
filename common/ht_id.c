/* ht_id.c - ids, names and hex: the pure helpers every module checks its
 * input with, kept apart from ht_util.c's clocks and files so the no-I/O
 * libraries can link them (libhtbase.a). */
#include "ht_id.h"

#include <string.h>

bool ht_id_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++) {
        char c = *p;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (n == 0 ? !alnum : !(alnum || c == '.' || c == '_' || c == '-'))
            return false;
        if (c == '.' && p[1] == '.')
            return false; /* ".." anywhere (docs/api.md) */
        if (n >= HT_ID_MAX)
            return false;
    }
    return n > 0;
}

/* Affordance names become MQTT topic levels and REST path segments: no
 * separators, wildcards or dots can appear in them. */
bool ht_name_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
        if (n >= HT_NAME_MAX)
            return false;
    }
    return n > 0;
}

long ht_id_bsearch(void *const *v, size_t n, const char *id, size_t *pos)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp((const char *)v[mid], id);
        if (c == 0) {
            if (pos)
                *pos = mid;
            return (long)mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos)
        *pos = lo;
    return -1;
}

void ht_hex(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}
