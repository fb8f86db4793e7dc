/* fuzz_uidesc - the descriptor generator (ui-descriptors/): any twin
 * document the model accepts must give a descriptor for both targets and
 * every role; it must carry the schema id and serialise canonically (the
 * same bytes and ETag twice, parseable JSON). */
#include "fuzz.h"

#include "ui-descriptors/uidesc.h"

#include "twins/twin.h"

#include "ht_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc)
        return 0;
    char err[256];
    struct ht_twin_model *m = NULL;
    if (ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0) != HT_OK) {
        json_decref(doc);
        return 0;
    }
    for (int t = 0; t < 2; t++) {
        for (int role = 0; role < 4; role++) {
            struct ht_ui_input in = {.model = m,
                                     .target = (enum ht_ui_target)t,
                                     .role = (enum ht_ui_role)role,
                                     .mqtt_base = "mqtt://gw:1883"};
            char *out = NULL, *out2 = NULL;
            size_t len = 0, len2 = 0;
            char etag[HT_UI_ETAG_LEN], etag2[HT_UI_ETAG_LEN];
            int rc = ht_ui_render(&in, &out, &len, etag, err, sizeof err);
            if (rc != HT_OK)
                fprintf(stderr, "valid twin, no descriptor: %s\n", err);
            FUZZ_ASSERT(rc == HT_OK);
            rc = ht_ui_render(&in, &out2, &len2, etag2, err, sizeof err);
            FUZZ_ASSERT(rc == HT_OK && len == len2 && !memcmp(out, out2, len));
            FUZZ_ASSERT(!strcmp(etag, etag2));
            json_t *d = json_loadb(out, len, 0, NULL);
            FUZZ_ASSERT(d != NULL);
            const char *schema =
                json_string_value(json_object_get(d, "schema"));
            FUZZ_ASSERT(schema && !strcmp(schema, "holotwin.ui/1"));
            json_decref(d);
            free(out);
            free(out2);
        }
    }
    ht_twin_model_free(m);
    json_decref(doc);
    return 0;
}
