/* payload.c - the device messages' payloads parsed into records, with no
 * side effects: a TD (JSON, validated, its id matching the topic's), a
 * status and a property value. ingest.c dispatches by topic and hands the
 * records on; tests/fuzz/fuzz_ingest feeds these any bytes.
 */

#include "gateway/ingest/ingest_internal.h"

#include "ht_err.h"
#include "ht_json.h"

#include <stdio.h>
#include <string.h>

/* The TD is checked whole before anything is stored: JSON, the TD
 * structure (ht_sem_td_parse) and the id the topic names. */
int ingest__td_parse(const char *id, const char *payload, size_t len,
                     json_t **td, struct ht_sem_thing **thing, char *err,
                     size_t errlen)
{
    json_error_t je;
    *td = NULL;
    *thing = NULL;
    json_t *doc = json_loadb(payload, len, 0, &je);
    if (!doc) {
        snprintf(err, errlen, "line %d: %s", je.line, je.text);
        return HT_EPARSE;
    }
    struct ht_sem_thing *t = NULL;
    if (ht_sem_td_parse(doc, &t, err, errlen) != HT_OK) {
        json_decref(doc);
        return HT_EINVAL;
    }
    if (!t->id || strcmp(t->id, id)) {
        snprintf(err, errlen, "the TD on the topic of %s names %s", id,
                 t->id ? t->id : "(none)");
        ht_sem_thing_free(t);
        json_decref(doc);
        return HT_EINVAL;
    }
    *td = doc;
    *thing = t;
    return HT_OK;
}

int ingest__status_parse(const char *payload, size_t len, bool *online)
{
    json_t *j = json_loadb(payload, len, 0, NULL);
    const char *s = json_string_value(json_object_get(j, "state"));
    int rc = HT_EINVAL;
    if (s && (!strcmp(s, "online") || !strcmp(s, "offline"))) {
        *online = !strcmp(s, "online");
        rc = HT_OK;
    }
    json_decref(j);
    return rc;
}

/* A value's JSON text is printed once here, for the journal, the SSE
 * event and the observers. A missing or non-integer ts means "now". */
int ingest__value_parse(const char *payload, size_t len, int64_t now,
                        struct ingest_value_msg *out)
{
    memset(out, 0, sizeof *out);
    json_t *j = json_loadb(payload, len, 0, NULL);
    json_t *v = json_object_get(j, "v");
    if (!v) {
        json_decref(j);
        return HT_EINVAL;
    }
    char *text = ht_json_dumps(v, false, NULL);
    json_t *tsj = json_object_get(j, "ts");
    out->doc = j;
    out->v = v;
    out->text = text;
    out->ts = json_is_integer(tsj) ? json_integer_value(tsj) : now;
    out->seq = json_integer_value(json_object_get(j, "seq"));
    return HT_OK;
}

void ingest__value_msg_clear(struct ingest_value_msg *m)
{
    free(m->text);
    json_decref(m->doc);
    memset(m, 0, sizeof *m);
}
