/* cmd_watch.c - `gwctl watch [TWIN]`: the gateway's Server-Sent Events
 * stream (/api/v1/events[?twin=ID]) as one readable line per event, until
 * Ctrl-C. A dropped stream is resumed with Last-Event-ID so nothing is
 * missed or repeated across gateway restarts and network hiccups. */
#include "gwctl.h"

#include "ht_mem.h"
#include "ht_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Set by SIGINT/SIGTERM; a signal handler can only reach a global. */
static volatile sig_atomic_t g_watch_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_watch_stop = 1;
}

struct watch {
    const struct gwctl *g;
    CURL *curl;
    struct gw_sse sse;
    long status;    /* HTTP status of the current attempt */
    bool is_stream; /* content type is text/event-stream */
    char *err;      /* body of a non-200 answer (bounded) */
    size_t errlen;
    long long count;       /* events printed */
    long long max;         /* --count, 0 = unbounded */
    const char *only;      /* print only events of this name, or NULL */
    gw_watch_line_fn line; /* custom one-line format, or NULL */
    bool bad_stream;       /* a line exceeded the parser's limit */
};

/* A compact "k=v k=v" summary of an event's JSON object, scalars first
 * (device, twin, property, value) so the line reads naturally. */
static void print_summary(const json_t *d)
{
    static const char *const first[] = {
        "device", "twin", "component", "property", "path",
        "name",   "v",    "value",     "state",    NULL};
    for (size_t i = 0; first[i]; i++) {
        json_t *v = json_object_get(d, first[i]);
        if (!v)
            continue;
        char *s = gw_scalar_text(v);
        printf(" %s=%s", first[i], s);
        free(s);
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)d, k, v)
    {
        bool seen = !strcmp(k, "ts");
        for (size_t i = 0; first[i] && !seen; i++)
            seen = !strcmp(k, first[i]);
        if (seen)
            continue;
        char *s = gw_scalar_text(v);
        if (strlen(s) > 80)
            strcpy(s + 77, "...");
        printf(" %s=%s", k, s);
        free(s);
    }
}

static void on_event(const struct gw_sse_event *ev, void *ud)
{
    struct watch *w = ud;
    if ((w->max && w->count >= w->max) ||
        (w->only && strcmp(ev->event, w->only)))
        return;
    json_t *d = json_loads(ev->data, JSON_DECODE_ANY, NULL);
    long long now = (long long)ht_time_ms();
    if (w->g->json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:o}", "id", ev->id, "event",
                              ev->event, "received", (json_int_t)now, "data",
                              d ? json_incref(d) : json_string(ev->data));
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        puts(s ? s : "{}");
        free(s);
        json_decref(o);
    } else if (w->line && d) {
        w->line(ev->event, d);
    } else {
        long long ts = now;
        json_t *t = json_object_get(d, "ts");
        if (json_is_integer(t) && json_integer_value(t) > 0)
            ts = (long long)json_integer_value(t);
        char tb[32];
        gw_fmt_time(ts, tb, sizeof tb);
        printf("%s  %-10s", tb + 11, ev->event);
        if (json_is_object(d)) {
            print_summary(d);
        } else {
            char *s = d ? gw_scalar_text(d) : ht_strdup(ev->data);
            printf(" %s", s);
            free(s);
        }
        putchar('\n');
    }
    fflush(stdout);
    json_decref(d);
    w->count++;
}

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
    struct watch *w = ud;
    size_t n = sz * nm;
    if (w->status == 0) {
        curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &w->status);
        char *ct = NULL;
        curl_easy_getinfo(w->curl, CURLINFO_CONTENT_TYPE, &ct);
        w->is_stream = ct && strstr(ct, "text/event-stream");
    }
    if (w->status != 200 || !w->is_stream) {
        /* Keep a bounded copy of the error body for the problem detail. */
        size_t keep = w->errlen + n > 65536 ? 65536 - w->errlen : n;
        w->err = ht_realloc(w->err, w->errlen + keep + 1);
        memcpy(w->err + w->errlen, p, keep);
        w->errlen += keep;
        w->err[w->errlen] = '\0';
        return n;
    }
    if (gw_sse_feed(&w->sse, p, n, on_event, w) != 0) {
        w->bad_stream = true;
        return 0;
    }
    if (w->max && w->count >= w->max)
        return 0; /* done: abort the transfer */
    return n;
}

/* libcurl polls this while the stream idles: the way Ctrl-C gets out. */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d)
{
    (void)ud, (void)a, (void)b, (void)c, (void)d;
    return g_watch_stop ? 1 : 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (!g_watch_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One connection attempt. Returns -1 to reconnect, or an exit code. */
static int attempt(struct watch *w, const char *url, bool first)
{
    struct curl_slist *h = NULL;
    char *auth = NULL, *last = NULL;
    if (w->g->token) {
        auth = ht_asprintf("Authorization: Bearer %s", w->g->token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Accept: text/event-stream");
    if (w->sse.last_id && *w->sse.last_id) {
        last = ht_asprintf("Last-Event-ID: %s", w->sse.last_id);
        h = curl_slist_append(h, last);
    }
    w->status = 0;
    w->is_stream = false;
    w->errlen = 0;
    gw_sse_reset(&w->sse);
    CURL *c = w->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* A silent stream for 90 s is a dead connection: resume it. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 90L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    free(auth);
    free(last);
    if (g_watch_stop || (w->max && w->count >= w->max))
        return GW_EXIT_OK;
    if (w->bad_stream) {
        fprintf(stderr, "gwctl: watch: malformed event stream\n");
        return GW_EXIT_DEVICE;
    }
    if (w->status && (w->status != 200 || !w->is_stream)) {
        if (w->status == 200) {
            fprintf(stderr, "gwctl: watch: the gateway did not answer an "
                            "event stream\n");
            return GW_EXIT_DEVICE;
        }
        struct gw_resp r = {.status = w->status};
        r.json = w->err ? json_loads(w->err, 0, NULL) : NULL;
        int ec = gw_fail(w->g, &r, "watch");
        json_decref(r.json);
        /* A gateway restarting answers 503 for a moment; wait it out. */
        return w->status >= 500 && !first ? -1 : ec;
    }
    if (rc != CURLE_OK && !w->status) {
        if (first) {
            fprintf(stderr, "gwctl: gateway %s unreachable: %s\n",
                    w->g->gateway, curl_easy_strerror(rc));
            return GW_EXIT_UNREACHABLE;
        }
        return -1;
    }
    return -1;
}

/* The watch loop shared by `watch` and `alarms watch`. */
static int watch_run(struct gwctl *g, const char *twin, const char *only,
                     gw_watch_line_fn line, long long max)
{
    char *url = twin ? ht_asprintf("%s/api/v1/events?twin=%s", g->gateway, twin)
                     : ht_asprintf("%s/api/v1/events", g->gateway);
    struct watch w = {.g = g, .max = max, .only = only, .line = line};
    gw_sse_init(&w.sse);
    w.curl = curl_easy_init();
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = GW_EXIT_UNREACHABLE;
    long backoff = 500;
    for (bool first = true; w.curl && !g_watch_stop; first = false) {
        long long before = w.count;
        rc = attempt(&w, url, first);
        if (rc >= 0)
            break;
        /* Events flowed: the next drop starts the backoff afresh. */
        if (w.count > before)
            backoff = 500;
        long wait = w.sse.retry_ms > 0 ? w.sse.retry_ms : backoff;
        fprintf(stderr, "gwctl: watch: stream lost, reconnecting in %ld ms\n",
                wait);
        sleep_ms(wait);
        backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
        rc = GW_EXIT_OK;
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (w.curl)
        curl_easy_cleanup(w.curl);
    gw_sse_clear(&w.sse);
    free(w.err);
    free(url);
    return rc < 0 ? GW_EXIT_OK : rc;
}

int gw_watch_cmd(struct gwctl *g, int argc, char **argv, int start,
                 const char *cmd, const char *only, gw_watch_line_fn line)
{
    const char *twin = NULL;
    long long max = 0;
    for (int i = start; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc) {
            char *end;
            max = strtoll(argv[++i], &end, 10);
            if (*end || max <= 0) {
                fprintf(stderr, "gwctl: --count needs a positive number\n");
                return GW_EXIT_USAGE;
            }
        } else if (argv[i][0] == '-' || twin) {
            return gw_usage(cmd);
        } else {
            twin = argv[i];
        }
    }
    if (twin && !ht_id_valid(twin)) {
        fprintf(stderr, "gwctl: '%s' is not a valid twin id\n", twin);
        return GW_EXIT_USAGE;
    }
    return watch_run(g, twin, only, line, max);
}

int gw_cmd_watch(struct gwctl *g, int argc, char **argv)
{
    return gw_watch_cmd(g, argc, argv, 1, "watch", NULL, NULL);
}
