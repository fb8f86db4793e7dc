/* test_wot.c - the gateway as seen by third-party W3C WoT consumers:
 * Eclipse Thingweb node-wot uses every form of every TD of the
 * virtual-factory demo (scripts/demo, secure by default) with
 * authentication on (tests/tools/wot-consume-all.mjs). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Count of "ok OP " lines in out. */
static size_t count_ok(const char *out, const char *op)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\nok %s ", op);
    size_t n = 0;
    for (const char *p = out; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* node-wot consumes each TD of /things (3 boards, their auto twins and
 * the press line): reads, writes, observations, readAllProperties,
 * the twins' alarm actions and their events, every form through
 * node-wot with its formIndex; a wrong token and an altered stream ticket
 * are refused. The writes are the command path's: audited under the
 * demo's operator token. */
static void node_wot_uses_every_form_of_every_demo_td(struct ht_it *t)
{
    ht_it_timeout(t, 240);
    struct ht_it_demo d;
    ht_it_demo_start(t, &d);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", d.http);
    /* The TDs as served (twins with actions and events, SSE forms with
     * tickets) pass the W3C TD validator. */
    char hdr[256];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", d.token);
    struct ht_it_http r;
    HT_CHECK(t, ht_it_http(d.http, "GET", "/things", hdr, NULL, &r) == 0 &&
                    r.status == 200);
    json_t *list = ht_it_http_json(&r);
    ht_it_http_free(&r);
    HT_CHECK(t, json_array_size(list) == 7, "TDs: %zu", json_array_size(list));
    const char *vargs[8] = {0};
    char *files[7];
    size_t i;
    json_t *td;
    json_array_foreach(list, i, td)
    {
        char name[32], *s = json_dumps(td, JSON_INDENT(1));
        snprintf(name, sizeof name, "td-%zu.json", i);
        files[i] = ht_it_write(t, name, s);
        vargs[i] = files[i];
        free(s);
    }
    json_decref(list);
    char *out = NULL;
    int rc = ht_it_node(t, "validate-td.mjs", vargs, 60000, &out);
    HT_CHECK(t, rc == 0, "validator: %s", out);
    free(out);
    for (i = 0; i < 7; i++)
        free(files[i]);

    const char *args[] = {base, d.token, NULL};
    rc = ht_it_node(t, "wot-consume-all.mjs", args, 200000, &out);
    HT_CHECK(t, rc == 0 && strstr(out, "failures=0"), "node-wot:\n%s", out);
    HT_CHECK(t, strstr(out, "directory: 7 TDs"), "%s", out);
    /* Every kind of operation happened, on devices and twins. */
    HT_CHECK(t, count_ok(out, "refused-wrong-token") == 1 &&
                    count_ok(out, "refused-altered-ticket") == 1);
    HT_CHECK(t, count_ok(out, "readallproperties") == 7, "%s", out);
    HT_CHECK(t,
             count_ok(out, "readproperty") >= 45 &&
                 count_ok(out, "observeproperty") >= 45 &&
                 count_ok(out, "unobserveproperty") >= 45 &&
                 count_ok(out, "writeproperty") >= 27,
             "%s", out);
    HT_CHECK(t, strstr(out, "ok writeproperty urn:holotwin:device:") &&
                    strstr(out, "ok writeproperty urn:holotwin:twin:") &&
                    strstr(out, "ok observeproperty urn:holotwin:twin:"));
    HT_CHECK(t,
             count_ok(out, "invokeaction") == 2 &&
                 count_ok(out, "subscribeevent") == 12 &&
                 count_ok(out, "unsubscribeevent") == 12,
             "%s", out);
    HT_CHECK(t, strstr(out, "event urn:holotwin:twin:press-line "),
             "no press-line event delivered: %s", out);
    free(out);

    /* Audited: the writes and the alarm commands, as the demo token's. */
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", d.admin);
    HT_CHECK(t, ht_it_http(d.http, "GET", "/api/v1/audit?limit=1000", hdr, NULL,
                           &r) == 0 &&
                    r.status == 200);
    json_t *a = ht_it_http_json(&r);
    ht_it_http_free(&r);
    size_t writes = 0, acks = 0, shelves = 0;
    json_t *e;
    json_array_foreach(json_object_get(a, "items"), i, e)
    {
        const char *act = json_string_value(json_object_get(e, "action"));
        const char *who = json_string_value(json_object_get(e, "actor"));
        if (!act || !who || !strstr(who, "demo"))
            continue;
        writes += !strcmp(act, "write") || !strcmp(act, "twin-write");
        acks += !strcmp(act, "alarm-ack");
        shelves += !strcmp(act, "alarm-shelve");
    }
    json_decref(a);
    HT_CHECK(t, writes >= 27 && acks == 1 && shelves == 1,
             "audited: %zu writes, %zu acks, %zu shelves", writes, acks,
             shelves);
    int st = ht_it_stop(t, d.pid, SIGINT, 30000);
    HT_CHECK(t, st >= 0, "the demo did not stop");
}

HT_IT_MAIN(HT_IT_CASE(node_wot_uses_every_form_of_every_demo_td))
