/* fuzz_twin - the twin model and the rule language (twins/): the input is
 * a twin document; when it parses it runs in an engine (values for every
 * bound property taken from the document, statuses, ticks) and its state
 * is built. The input is also checked as one rule expression. */
#include "fuzz.h"

#include "twins/twin.h"

#include "ht_err.h"

static void on_event(const struct ht_twin_event *ev, void *ud)
{
    (void)ev;
    (*(size_t *)ud)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    char *src = fuzz_str(data, size);
    size_t pos = 0;
    if (ht_twin_expr_check(src, err, sizeof err, &pos) != HT_OK)
        FUZZ_ASSERT(pos <= size);
    free(src);

    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc)
        return 0;
    struct ht_twin_model *m = NULL;
    if (ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0) != HT_OK) {
        FUZZ_ASSERT(m == NULL);
        json_decref(doc);
        return 0;
    }
    size_t events = 0;
    struct ht_twin_engine *e = ht_twin_engine_new(on_event, &events);
    int rc = ht_twin_engine_put(e, doc, 1000, err, sizeof err);
    FUZZ_ASSERT(rc == HT_OK);
    /* Feed every bound device property a value from the document. */
    json_t *seven = json_integer(7);
    const json_t *vals[] = {json_object_get(doc, "version"),
                            json_object_get(doc, "title"), json_true(), seven};
    int64_t now = 1000;
    for (size_t c = 0; c < m->ncomps; c++) {
        const struct ht_twin_component *comp = &m->comps[c];
        for (size_t p = 0; p < comp->nprops; p++) {
            const struct ht_twin_prop *pr = &comp->props[p];
            if (!pr->device || !pr->device_prop)
                continue;
            ht_twin_engine_set_device_status(e, pr->device, true, now);
            for (size_t k = 0; k < 4; k++) {
                if (!vals[k])
                    continue;
                now += 500;
                ht_twin_engine_set_value(e, pr->device, pr->device_prop,
                                         vals[k], now);
                ht_twin_engine_tick(e, now);
            }
        }
    }
    ht_twin_engine_tick(e, now + 3600 * 1000);
    json_t *st = ht_twin_engine_state(e, m->id);
    FUZZ_ASSERT(st != NULL);
    json_decref(st);
    json_decref(seven);
    FUZZ_ASSERT(ht_twin_engine_remove(e, m->id) == HT_OK);
    ht_twin_engine_free(e);
    ht_twin_model_free(m);
    json_decref(doc);
    return 0;
}
