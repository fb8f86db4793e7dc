/* test_gw_query_token.c - the access_token query parameter that browsers'
 * EventSource needs: accepted for GET (SSE included), refused when wrong,
 * and never a way to authorise a write. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void sse_and_reads_accept_query_token_writes_do_not(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    char broker[64], port_s[16];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", b.port);
    int http = ht_it_free_port();
    snprintf(port_s, sizeof port_s, "%d", http);
    char *data = ht_it_path(t, "gw");
    char *gw = ht_it_bin("gatewayd");
    const char *argv[] = {gw,   "--broker",    broker, "--data-dir",
                          data, "--http-port", port_s, NULL};
    ht_it_spawn(t, "gatewayd", argv, NULL);
    HT_CHECK(t, ht_it_wait_port(http, 10000));
    char *tokpath = NULL;
    if (asprintf(&tokpath, "%s/admin.token", data) < 0)
        abort();
    char tok[256] = {0};
    FILE *f = fopen(tokpath, "r");
    HT_CHECK(t, f && fgets(tok, sizeof tok, f));
    fclose(f);
    tok[strcspn(tok, "\r\n")] = '\0';

    char path[512];
    snprintf(path, sizeof path, "/api/v1/events?access_token=%s", tok);
    struct ht_it_sse *s = ht_it_sse_open(http, path, NULL);
    HT_CHECK(t, s != NULL);
    HT_CHECK(t, ht_it_sse_status(s) == 200, "SSE with query token: %d",
             ht_it_sse_status(s));
    ht_it_sse_close(s);

    s = ht_it_sse_open(http, "/api/v1/events?access_token=wrong", NULL);
    HT_CHECK(t, s != NULL && ht_it_sse_status(s) == 401, "bad token: %d",
             s ? ht_it_sse_status(s) : -1);
    ht_it_sse_close(s);

    struct ht_it_http r;
    snprintf(path, sizeof path, "/api/v1/devices?access_token=%s", tok);
    HT_CHECK(t, ht_it_http(http, "GET", path, NULL, NULL, &r) == 0);
    HT_CHECK(t, r.status == 200, "GET with query token: %d", r.status);
    ht_it_http_free(&r);

    snprintf(path, sizeof path, "/api/v1/tokens?access_token=%s", tok);
    HT_CHECK(t, ht_it_http(http, "POST", path, NULL,
                           "{\"role\":\"viewer\",\"name\":\"x\"}", &r) == 0);
    HT_CHECK(t, r.status == 401, "POST must not take a query token: %d",
             r.status);
    ht_it_http_free(&r);
    free(tokpath);
    free(gw);
    free(data);
}

HT_IT_MAIN(HT_IT_CASE(sse_and_reads_accept_query_token_writes_do_not))
