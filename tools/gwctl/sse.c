/* sse.c - an incremental Server-Sent Events parser (WHATWG HTML "event
 * stream interpretation"): bytes arrive in arbitrary chunks from libcurl,
 * lines end in LF, CR or CRLF, a blank line dispatches the event. */
#include "gwctl.h"

#include "ht_mem.h"

#include <stdlib.h>
#include <string.h>

/* A line longer than this is hostile or broken; the stream is abandoned. */
#define GW_SSE_MAX_LINE (1u << 20)

void gw_sse_init(struct gw_sse *s)
{
    memset(s, 0, sizeof *s);
}

static void append(char **b, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1)
            c *= 2;
        *b = ht_realloc(*b, c);
        *cap = c;
    }
    memcpy(*b + *len, p, n);
    *len += n;
    (*b)[*len] = '\0';
}

static void dispatch(struct gw_sse *s, gw_sse_cb cb, void *ud)
{
    if (s->has_data) {
        /* The spec strips the one trailing LF the data lines added. */
        if (s->dlen && s->data[s->dlen - 1] == '\n')
            s->data[--s->dlen] = '\0';
        struct gw_sse_event ev = {
            .event = s->event && *s->event ? s->event : "message",
            .data = s->data ? s->data : "",
            .id = s->last_id ? s->last_id : "",
        };
        cb(&ev, ud);
    }
    s->dlen = 0;
    if (s->data)
        s->data[0] = '\0';
    s->has_data = false;
    free(s->event);
    s->event = NULL;
}

static void process_line(struct gw_sse *s, char *line, size_t n, gw_sse_cb cb,
                         void *ud)
{
    if (n == 0) {
        dispatch(s, cb, ud);
        return;
    }
    if (line[0] == ':')
        return; /* comment / keep-alive */
    char *colon = memchr(line, ':', n);
    const char *val = "";
    size_t vlen = 0;
    if (colon) {
        *colon = '\0';
        val = colon + 1;
        if (*val == ' ')
            val++;
        vlen = n - (size_t)(val - line);
    }
    if (!strcmp(line, "data")) {
        append(&s->data, &s->dlen, &s->dcap, val, vlen);
        append(&s->data, &s->dlen, &s->dcap, "\n", 1);
        s->has_data = true;
    } else if (!strcmp(line, "event")) {
        free(s->event);
        s->event = ht_strndup(val, vlen);
    } else if (!strcmp(line, "id")) {
        if (!memchr(val, '\0', vlen)) {
            free(s->last_id);
            s->last_id = ht_strndup(val, vlen);
        }
    } else if (!strcmp(line, "retry")) {
        char *end;
        long r = strtol(val, &end, 10);
        if (end != val && *end == '\0' && r >= 0)
            s->retry_ms = r;
    }
}

int gw_sse_feed(struct gw_sse *s, const char *p, size_t n, gw_sse_cb cb,
                void *ud)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\n' && s->cr) {
            s->cr = false; /* the LF of a CRLF */
            continue;
        }
        s->cr = c == '\r';
        if (c == '\r' || c == '\n') {
            if (!s->line)
                append(&s->line, &s->llen, &s->lcap, "", 0);
            process_line(s, s->line, s->llen, cb, ud);
            s->llen = 0;
            s->line[0] = '\0';
            continue;
        }
        /* Copy the run up to the next line end in one go. */
        size_t j = i;
        while (j < n && p[j] != '\r' && p[j] != '\n')
            j++;
        if (s->llen + (j - i) > GW_SSE_MAX_LINE)
            return -1;
        append(&s->line, &s->llen, &s->lcap, p + i, j - i);
        i = j - 1;
    }
    return 0;
}

void gw_sse_reset(struct gw_sse *s)
{
    s->llen = 0;
    s->dlen = 0;
    s->has_data = false;
    s->cr = false;
    free(s->event);
    s->event = NULL;
}

void gw_sse_clear(struct gw_sse *s)
{
    free(s->line);
    free(s->data);
    free(s->event);
    free(s->last_id);
    memset(s, 0, sizeof *s);
}
