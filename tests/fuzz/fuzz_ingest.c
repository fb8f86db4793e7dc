/* fuzz_ingest - MQTT ingest of every topic kind: the first line is the
 * topic (split by the topic contract, common/ht_topic.h), the rest the
 * payload, parsed by the gateway's payload parsers (gateway/ingest,
 * payload.c) for the kind the topic names. A topic that parses must build
 * back to the same bytes. */
#include "fuzz.h"

#include "gateway/ingest/ingest_internal.h"

#include "ht_err.h"
#include "ht_topic.h"

static void payload(const struct ht_topic *t, const uint8_t *p, size_t n)
{
    const char *pl = (const char *)p;
    char err[256];
    switch (t->kind) {
    case HT_TOPIC_DEV_TD: {
        json_t *td = NULL;
        struct ht_sem_thing *thing = NULL;
        int rc = ingest__td_parse(t->id, pl, n, &td, &thing, err, sizeof err);
        FUZZ_ASSERT(rc == HT_OK ? td && thing && !strcmp(thing->id, t->id)
                                : !td && !thing);
        ht_sem_thing_free(thing);
        json_decref(td);
        break;
    }
    case HT_TOPIC_DEV_STATUS: {
        bool online = false;
        (void)ingest__status_parse(pl, n, &online);
        break;
    }
    case HT_TOPIC_DEV_PROP: {
        struct ingest_value_msg m;
        if (ingest__value_parse(pl, n, 1000, &m) == HT_OK) {
            FUZZ_ASSERT(m.v && m.text);
            json_t *back = json_loads(m.text, JSON_DECODE_ANY, NULL);
            FUZZ_ASSERT(back != NULL);
            json_decref(back);
            ingest__value_msg_clear(&m);
        } else {
            FUZZ_ASSERT(!m.doc && !m.text);
        }
        break;
    }
    default:
        /* acks, commands, sync, twin topics: JSON at most */
        json_decref(json_loadb(pl, n, JSON_DECODE_ANY, NULL));
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *rest;
    size_t restlen;
    char *topic = fuzz_split(data, size, &rest, &restlen);
    static const char *const prefixes[] = {NULL, "plant/a", "x"};
    for (size_t i = 0; i < 3; i++) {
        struct ht_topic t;
        int rc = ht_topic_parse(topic, prefixes[i], &t);
        if (rc != HT_OK) {
            FUZZ_ASSERT(t.kind == HT_TOPIC_NONE);
            continue;
        }
        FUZZ_ASSERT(t.kind == HT_TOPIC_SYNC || ht_id_valid(t.id));
        FUZZ_ASSERT(!ht_topic_has_name(t.kind) || ht_name_valid(t.name));
        char back[HT_TOPIC_MAX];
        int n = ht_topic_build(back, sizeof back, prefixes[i], t.kind,
                               ht_topic_has_id(t.kind) ? t.id : NULL,
                               ht_topic_has_name(t.kind) ? t.name : NULL);
        FUZZ_ASSERT(n > 0 && !strcmp(back, topic));
        payload(&t, rest, restlen);
    }
    /* Every payload under every kind, whatever the topic. */
    struct ht_topic t = {.kind = HT_TOPIC_DEV_TD, .id = "dev-1"};
    payload(&t, rest, restlen);
    t.kind = HT_TOPIC_DEV_STATUS;
    payload(&t, rest, restlen);
    t.kind = HT_TOPIC_DEV_PROP;
    payload(&t, rest, restlen);
    free(topic);
    return 0;
}
