/* fuzz_td - the TD parser and validator (semantics/): any bytes as a TD
 * from the network. A TD that parses is rebuilt with ht_sem_td_build and
 * must parse again to the same thing; every property's value check runs
 * on values taken from the input. */
#include "fuzz.h"

#include "semantics/semantics.h"

#include "ht_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *td = json_loadb((const char *)data, size, 0, NULL);
    if (!td)
        return 0;
    char err[256];
    struct ht_sem_thing *t = NULL;
    if (ht_sem_td_parse(td, &t, err, sizeof err) != HT_OK) {
        FUZZ_ASSERT(t == NULL);
        FUZZ_ASSERT(err[0] != '\0');
        json_decref(td);
        return 0;
    }
    FUZZ_ASSERT(t->nprops <= HT_SEM_MAX_PROPS);
    struct ht_sem_forms f = {.mqtt_base = "mqtt://127.0.0.1:1883",
                             .topic_prefix = "holotwin/v1",
                             .http_base = "http://127.0.0.1:8080",
                             .gateway = true,
                             .kind = "device"};
    json_t *again = ht_sem_td_build(t, &f);
    FUZZ_ASSERT(again != NULL);
    struct ht_sem_thing *t2 = NULL;
    int rc = ht_sem_td_parse(again, &t2, err, sizeof err);
    if (rc != HT_OK)
        fprintf(stderr, "rebuilt TD rejected: %s\n", err);
    FUZZ_ASSERT(rc == HT_OK);
    FUZZ_ASSERT(t2->nprops == t->nprops);
    /* Every value found in the input, checked against every property. */
    const json_t *vals[] = {td, json_object_get(td, "id"),
                            json_object_get(td, "title"),
                            json_object_get(td, "properties")};
    for (size_t i = 0; i < t->nprops; i++) {
        FUZZ_ASSERT(ht_sem_name_valid(t->props[i].name));
        FUZZ_ASSERT(ht_sem_thing_prop(t, t->props[i].name) != NULL);
        for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
            if (!vals[k])
                continue;
            char msg[128];
            enum ht_sem_check c =
                ht_sem_value_check(&t->props[i], vals[k], msg, sizeof msg);
            FUZZ_ASSERT(ht_sem_check_code(c) != NULL);
        }
    }
    ht_sem_thing_free(t2);
    json_decref(again);
    ht_sem_thing_free(t);
    json_decref(td);
    return 0;
}
