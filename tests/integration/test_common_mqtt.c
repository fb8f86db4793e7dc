/* test_common_mqtt.c - common/ht_mqtt.c against a real mosquitto: the
 * adapter on an ht_loop connects, receives, reconnects after the broker
 * restarts, and keeps a persistent session across its own disconnects. */
#include "harness.h"
#include "ht_err.h"
#include "ht_loop.h"
#include "ht_mqtt.h"

#include <stdlib.h>
#include <string.h>

struct rx {
    int connects;
    int disconnects;
    int msgs;
    char last[256];
};

static void on_connect(void *ud, int rc, bool session_present)
{
    (void)session_present;
    struct rx *r = ud;
    if (rc == 0)
        r->connects++;
}

static void on_disconnect(void *ud, int rc)
{
    (void)rc;
    ((struct rx *)ud)->disconnects++;
}

static void on_message(void *ud, const struct mosquitto_message *m,
                       const mosquitto_property *p)
{
    (void)p;
    struct rx *r = ud;
    r->msgs++;
    snprintf(r->last, sizeof r->last, "%s=%.*s", m->topic, m->payloadlen,
             (const char *)m->payload);
}

static const struct ht_mqtt_cbs cbs = {.on_connect = on_connect,
                                       .on_disconnect = on_disconnect,
                                       .on_message = on_message};

/* Run the loop until cond or ~timeout. */
#define SPIN(l, cond, ms)                                                      \
    for (int spun_ = 0; !(cond) && spun_ < (ms); spun_ += 10)                  \
    ht_loop_run_once((l), 10)

static void receives_and_reconnects_after_broker_restart(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct ht_loop *l;
    HT_CHECK(t, ht_loop_new(&l) == HT_OK);
    struct rx r = {0};
    struct ht_mqtt_opts o = {.port = b.port,
                             .client_id = "adapter-1",
                             .username = b.user,
                             .password = b.pass,
                             .clean_start = true,
                             .backoff_min_ms = 50,
                             .backoff_max_ms = 200};
    struct ht_mqtt *m;
    HT_CHECK(t, ht_mqtt_new(l, &o, &cbs, &r, &m) == HT_OK);
    HT_CHECK(t, ht_mqtt_start(m) == HT_OK);
    SPIN(l, r.connects == 1, 5000);
    HT_CHECK(t, r.connects == 1);
    HT_CHECK(t, ht_mqtt_subscribe(m, "x/#", 1) == HT_OK);
    SPIN(l, false, 100);

    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "peer", NULL, NULL);
    HT_CHECK(t, c != NULL);
    HT_CHECK(t, ht_it_mqtt_pub(c, "x/a", "1", 1, false) == 0);
    SPIN(l, r.msgs == 1, 5000);
    HT_CHECK(t, r.msgs == 1);
    HT_CHECK(t, !strcmp(r.last, "x/a=1"), "got %s", r.last);
    ht_it_mqtt_free(c);

    ht_it_broker_restart(t, &b);
    SPIN(l, r.connects == 2, 10000);
    HT_CHECK(t, r.disconnects >= 1);
    HT_CHECK(t, r.connects == 2, "reconnects: %d", r.connects);
    HT_CHECK(t, ht_mqtt_connected(m));

    ht_mqtt_stop(m);
    HT_CHECK(t, !ht_mqtt_connected(m));
    ht_mqtt_free(m);
    ht_loop_free(l);
}

static void persistent_session_gets_messages_sent_while_away(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct ht_loop *l;
    HT_CHECK(t, ht_loop_new(&l) == HT_OK);
    struct rx r = {0};
    struct ht_mqtt_opts o = {.port = b.port,
                             .client_id = "durable",
                             .username = b.user,
                             .password = b.pass,
                             .clean_start = false,
                             .session_expiry = 3600};
    struct ht_mqtt *m;
    HT_CHECK(t, ht_mqtt_new(l, &o, &cbs, &r, &m) == HT_OK);
    ht_mqtt_start(m);
    SPIN(l, r.connects == 1, 5000);
    HT_CHECK(t, ht_mqtt_subscribe(m, "d/#", 1) == HT_OK);
    SPIN(l, false, 200);
    ht_mqtt_stop(m);
    ht_mqtt_free(m);

    /* Published while the client is gone: the broker must keep them. */
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "peer", NULL, NULL);
    HT_CHECK(t, c != NULL);
    for (int i = 0; i < 5; i++) {
        char p[16];
        snprintf(p, sizeof p, "%d", i);
        HT_CHECK(t, ht_it_mqtt_pub(c, "d/v", p, 1, false) == 0);
    }
    ht_it_mqtt_free(c);

    memset(&r, 0, sizeof r);
    HT_CHECK(t, ht_mqtt_new(l, &o, &cbs, &r, &m) == HT_OK);
    ht_mqtt_start(m);
    SPIN(l, r.msgs == 5, 5000);
    HT_CHECK(t, r.msgs == 5, "got %d of 5 queued messages", r.msgs);
    HT_CHECK(t, !strcmp(r.last, "d/v=4"), "last %s", r.last);
    ht_mqtt_stop(m);
    ht_mqtt_free(m);
    ht_loop_free(l);
}

static void broker_down_at_start_is_retried(struct ht_it *t)
{
    int port = ht_it_free_port();
    struct ht_loop *l;
    HT_CHECK(t, ht_loop_new(&l) == HT_OK);
    struct rx r = {0};
    struct ht_mqtt_opts o = {.port = port,
                             .client_id = "early",
                             .clean_start = true,
                             .backoff_min_ms = 50,
                             .backoff_max_ms = 100};
    struct ht_mqtt *m;
    HT_CHECK(t, ht_mqtt_new(l, &o, &cbs, &r, &m) == HT_OK);
    ht_mqtt_start(m);
    SPIN(l, ht_mqtt_attempts(m) >= 3, 5000);
    HT_CHECK(t, ht_mqtt_attempts(m) >= 3);
    HT_CHECK(t, r.connects == 0);
    /* Now a broker appears on that port. */
    char conf[128];
    snprintf(conf, sizeof conf, "listener %d 127.0.0.1\nallow_anonymous true\n",
             port);
    char *path = ht_it_write(t, "late.conf", conf);
    const char *argv[] = {"/usr/sbin/mosquitto", "-c", path, NULL};
    ht_it_spawn(t, "mosquitto", argv, NULL);
    SPIN(l, r.connects == 1, 10000);
    HT_CHECK(t, r.connects == 1);
    free(path);
    ht_mqtt_stop(m);
    ht_mqtt_free(m);
    ht_loop_free(l);
}

/* An idle client wakes only for keepalive work, and that keeps the session
 * alive past the broker's 1.5 x keepalive deadline. */
static void idle_client_sleeps_but_keeps_alive(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct ht_loop *l;
    HT_CHECK(t, ht_loop_new(&l) == HT_OK);
    struct rx r = {0};
    struct ht_mqtt_opts o = {.port = b.port,
                             .client_id = "sleepy",
                             .username = b.user,
                             .password = b.pass,
                             .clean_start = true,
                             .keepalive = 30};
    struct ht_mqtt *m;
    HT_CHECK(t, ht_mqtt_new(l, &o, &cbs, &r, &m) == HT_OK);
    ht_mqtt_start(m);
    SPIN(l, r.connects == 1, 5000);
    HT_CHECK(t, r.connects == 1);
    /* Two idle seconds: nothing to do, so no callback may run. */
    int ran = 0;
    for (int i = 0; i < 20; i++)
        ran += ht_loop_run_once(l, 100);
    HT_CHECK(t, ran == 0, "%d wake-ups while idle", ran);
    ht_mqtt_stop(m);
    ht_mqtt_free(m);

    /* Keepalive 5 s: idle for 9 s (> 7.5 s) and still connected. */
    memset(&r, 0, sizeof r);
    o.client_id = "pinger";
    o.keepalive = 5;
    HT_CHECK(t, ht_mqtt_new(l, &o, &cbs, &r, &m) == HT_OK);
    ht_mqtt_start(m);
    SPIN(l, r.connects == 1, 5000);
    for (int i = 0; i < 90; i++)
        ht_loop_run_once(l, 100);
    HT_CHECK(t, r.disconnects == 0 && ht_mqtt_connected(m),
             "dropped while idle: %d disconnects", r.disconnects);
    ht_mqtt_stop(m);
    ht_mqtt_free(m);
    ht_loop_free(l);
}

HT_IT_MAIN(HT_IT_CASE(idle_client_sleeps_but_keeps_alive),
           HT_IT_CASE(receives_and_reconnects_after_broker_restart),
           HT_IT_CASE(persistent_session_gets_messages_sent_while_away),
           HT_IT_CASE(broker_down_at_start_is_retried))
