/* test_skeleton.c - the walking skeleton, all real: a sim device agent
 * publishes its TD and values to a real mosquitto; gatewayd ingests them
 * into SQLite and serves them over REST; gwctl lists the device. Also the
 * common command-line contract of every binary. */
#include "harness.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* The admin token gatewayd writes on first start (NULL if none). */
static char *read_token(struct ht_it *t, const char *data_dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/admin.token", data_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[256] = {0};
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    (void)t;
    return strdup(buf);
}

/* Rows of the devices table with this id, read beside the gateway (-1 on
 * error). The registry lists a device a moment before its row commits. */
static int db_device_rows(const char *db, const char *id)
{
    sqlite3 *s = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(s, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(s, "SELECT count(*) FROM devices WHERE id=?", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(s);
    return n;
}

static void
device_travels_agent_broker_gateway_sqlite_rest_gwctl(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    char broker[64], port_s[16];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", b.port);
    int http = ht_it_free_port();
    snprintf(port_s, sizeof port_s, "%d", http);
    char *data = ht_it_path(t, "gw");

    char *gw = ht_it_bin("gatewayd");
    const char *gargv[] = {gw,   "--broker",    broker, "--data-dir",
                           data, "--http-port", port_s, NULL};
    pid_t gpid = ht_it_spawn(t, "gatewayd", gargv, NULL);
    HT_CHECK(t, ht_it_wait_port(http, 10000), "gatewayd HTTP port %d", http);

    /* Ready means subscribed: only then are a board's first values seen. */
    bool ready = false;
    for (int i = 0; i < 250 && !ready; i++) {
        struct ht_it_http h;
        if (ht_it_http(http, "GET", "/healthz", NULL, NULL, &h) == 0) {
            json_t *j = ht_it_http_json(&h);
            ready = json_is_true(json_object_get(j, "mqtt_ready"));
            json_decref(j);
        }
        ht_it_http_free(&h);
        if (!ready)
            ht_it_sleep_ms(20);
    }
    HT_CHECK(t, ready, "/healthz never reported mqtt_ready");

    char *ag = ht_it_bin("device-agent");
    const char *aargv[] = {ag,     "--sim",  "--broker", broker,
                           "--id", "demo-1", NULL};
    pid_t apid = ht_it_spawn(t, "agent", aargv, NULL);

    char *tok = read_token(t, data);
    char auth[400] = "";
    if (tok)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", tok);

    /* REST: the device appears with its TD ingested. */
    json_t *dev = NULL;
    for (int i = 0; i < 250 && !dev; i++) {
        struct ht_it_http r;
        if (ht_it_http(http, "GET", "/api/v1/devices/demo-1", auth, NULL, &r) ==
                0 &&
            r.status == 200)
            dev = ht_it_http_json(&r);
        ht_it_http_free(&r);
        if (!dev)
            ht_it_sleep_ms(20);
    }
    HT_CHECK(t, dev != NULL, "demo-1 never appeared at /api/v1/devices/demo-1");
    HT_CHECK(t,
             !strcmp(json_string_value(json_object_get(dev, "id")), "demo-1"));
    HT_CHECK(t, json_is_string(json_object_get(dev, "state")));
    json_decref(dev);

    struct ht_it_http r;
    HT_CHECK(t,
             ht_it_http(http, "GET", "/api/v1/devices", auth, NULL, &r) == 0);
    HT_CHECK(t, r.status == 200, "status %d", r.status);
    json_t *list = ht_it_http_json(&r);
    json_t *items = json_object_get(list, "items");
    HT_CHECK(t, json_array_size(items) == 1, "body %s", r.body);
    HT_CHECK(t, !strcmp(json_string_value(
                            json_object_get(json_array_get(items, 0), "id")),
                        "demo-1"));
    json_decref(list);
    ht_it_http_free(&r);

    /* Unknown ids are a clean 404, hostile ones a 400 (never a crash). */
    HT_CHECK(t, ht_it_http(http, "GET", "/api/v1/devices/nope", auth, NULL,
                           &r) == 0);
    HT_CHECK(t, r.status == 404, "status %d", r.status);
    ht_it_http_free(&r);
    HT_CHECK(
        t, ht_it_http(http, "GET", "/api/v1/devices/a+b", auth, NULL, &r) == 0);
    HT_CHECK(t, r.status == 400 || r.status == 404, "status %d", r.status);
    ht_it_http_free(&r);

    /* SQLite: a real file in the data dir, in WAL mode, holding the device. */
    char *db = NULL;
    if (asprintf(&db, "%s/holotwin.db", data) < 0)
        abort();
    sqlite3 *s = NULL;
    HT_CHECK(t,
             sqlite3_open_v2(db, &s, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
             "cannot open %s", db);
    /* The gateway's writer may be committing: wait for it like any reader. */
    sqlite3_busy_timeout(s, 5000);
    sqlite3_stmt *st;
    HT_CHECK(t, sqlite3_prepare_v2(s, "PRAGMA journal_mode", -1, &st, NULL) ==
                    SQLITE_OK);
    HT_CHECK(t, sqlite3_step(st) == SQLITE_ROW);
    HT_CHECK(t, !strcmp((const char *)sqlite3_column_text(st, 0), "wal"));
    sqlite3_finalize(st);
    sqlite3_close(s);
    HT_WAIT(t, db_device_rows(db, "demo-1") == 1, 5000);
    free(db);

    /* gwctl: the human table and --json. */
    char *ctl = ht_it_bin("gwctl");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", http);
    const char *cargv[] = {
        ctl, "--gateway", url, "--token", tok ? tok : "", "devices", NULL};
    char *out = NULL, *err = NULL;
    int rc = ht_it_run(t, cargv, NULL, 10000, &out, &err);
    HT_CHECK(t, rc == 0, "gwctl exit %d: %s", rc, err);
    HT_CHECK(t,
             strstr(out, "ID") && strstr(out, "STATE") && strstr(out, "demo-1"),
             "gwctl output: %s", out);
    free(out);
    free(err);
    const char *jargv[] = {ctl, "devices", "--json",       "--gateway",
                           url, "--token", tok ? tok : "", NULL};
    rc = ht_it_run(t, jargv, NULL, 10000, &out, &err);
    HT_CHECK(t, rc == 0, "gwctl --json exit %d: %s", rc, err);
    json_t *j = json_loads(out, 0, NULL);
    HT_CHECK(t, json_is_array(j) && json_array_size(j) == 1, "gwctl --json: %s",
             out);
    HT_CHECK(t, !strcmp(json_string_value(
                            json_object_get(json_array_get(j, 0), "id")),
                        "demo-1"));
    json_decref(j);
    free(out);
    free(err);

    /* Clean shutdown: exit 0 means no ASan/LSan report either. */
    int st_a = ht_it_stop(t, apid, SIGTERM, 10000);
    HT_CHECK(t, st_a >= 0 && WIFEXITED(st_a) && WEXITSTATUS(st_a) == 0,
             "device-agent exit status %d", st_a);
    int st_g = ht_it_stop(t, gpid, SIGTERM, 10000);
    HT_CHECK(t, st_g >= 0 && WIFEXITED(st_g) && WEXITSTATUS(st_g) == 0,
             "gatewayd exit status %d", st_g);
    free(tok);
    free(ctl);
    free(ag);
    free(gw);
    free(data);
}

/* --help, --version, a bad flag and a bad config, for every binary. */
static void binaries_share_the_command_line_contract(struct ht_it *t)
{
    static const char *const bins[] = {"gatewayd", "device-agent", "gwctl"};
    char *bad = ht_it_write(t, "bad.json", "{\"oops\": ");
    for (size_t i = 0; i < 3; i++) {
        char *p = ht_it_bin(bins[i]);
        char *out = NULL, *err = NULL;
        const char *h[] = {p, "--help", NULL};
        int rc = ht_it_run(t, h, NULL, 10000, &out, &err);
        HT_CHECK(t, rc == 0 && strstr(out, "usage"), "%s --help: %d %s",
                 bins[i], rc, out);
        free(out);
        free(err);
        const char *v[] = {p, "--version", NULL};
        rc = ht_it_run(t, v, NULL, 10000, &out, &err);
        HT_CHECK(t, rc == 0 && strstr(out, "0."), "%s --version: %d %s",
                 bins[i], rc, out);
        free(out);
        free(err);
        const char *f[] = {p, "--no-such-flag", NULL};
        rc = ht_it_run(t, f, NULL, 10000, &out, &err);
        HT_CHECK(t, rc != 0, "%s accepted a bad flag", bins[i]);
        HT_CHECK(t, strchr(err, '\n') == err + strlen(err) - 1,
                 "%s: error is not one line: '%s'", bins[i], err);
        free(out);
        free(err);
        if (strcmp(bins[i], "gwctl")) {
            const char *c[] = {p, "--config", bad, NULL};
            rc = ht_it_run(t, c, NULL, 10000, &out, &err);
            HT_CHECK(t, rc != 0, "%s accepted a malformed config", bins[i]);
            HT_CHECK(t, strstr(err, "bad.json:"),
                     "%s: error does not name the file: %s", bins[i], err);
            free(out);
            free(err);
            const char *m[] = {p, "--config", "/nonexistent/x.json", NULL};
            rc = ht_it_run(t, m, NULL, 10000, &out, &err);
            HT_CHECK(t, rc != 0, "%s accepted a missing config", bins[i]);
            free(out);
            free(err);
        }
        free(p);
    }
    free(bad);
}

HT_IT_MAIN(HT_IT_CASE(device_travels_agent_broker_gateway_sqlite_rest_gwctl),
           HT_IT_CASE(binaries_share_the_command_line_contract))
