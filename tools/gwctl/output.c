/* output.c - gwctl's human and machine output: aligned tables, times in
 * local time, JSON pretty-printed. */
#include "gwctl.h"

#include "ht_mem.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gw_table {
    int ncols;
    char **cells; /* row-major, headers first */
    size_t nrows, cap;
};

struct gw_table *gw_table_new(int ncols, const char *const *headers)
{
    struct gw_table *t = ht_calloc(1, sizeof *t);
    t->ncols = ncols;
    gw_table_row(t, headers);
    return t;
}

void gw_table_row(struct gw_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells =
            ht_realloc(t->cells, t->cap * (size_t)t->ncols * sizeof *t->cells);
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] =
            ht_strdup(cells[i] ? cells[i] : "-");
    t->nrows++;
}

void gw_table_print(struct gw_table *t, FILE *out, bool color)
{
    size_t w[16] = {0};
    int nc = t->ncols < 16 ? t->ncols : 16;
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < nc; c++) {
            size_t l = strlen(t->cells[r * (size_t)t->ncols + (size_t)c]);
            if (l > w[c])
                w[c] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        if (r == 0 && color)
            fputs("\033[1m", out);
        for (int c = 0; c < nc; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            if (c == nc - 1)
                fputs(s, out);
            else
                fprintf(out, "%-*s  ", (int)w[c], s);
        }
        if (r == 0 && color)
            fputs("\033[0m", out);
        fputc('\n', out);
    }
}

void gw_table_free(struct gw_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void gw_fmt_time(long long ms, char *buf, size_t len)
{
    if (ms <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

const char *gw_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "-";
}

char *gw_scalar_text(const json_t *v)
{
    if (!v || json_is_null(v))
        return ht_strdup("-");
    if (json_is_string(v))
        return ht_strdup(json_string_value(v));
    /* Humans read 69.27, not the 17 digits a round trip needs. */
    if (json_is_real(v))
        return ht_asprintf("%.10g", json_real_value(v));
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    char *r = ht_strdup(s ? s : "?");
    free(s);
    return r;
}

void gw_print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (s) {
        puts(s);
        free(s);
    }
}
