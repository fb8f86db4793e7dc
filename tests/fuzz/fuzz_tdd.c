/* fuzz_tdd - the directory's parsers of third-party input (gateway/tdd/):
 * the first line is a JSONPath query, the rest a JSON document (a TD to
 * register, or a merge patch). The query runs on the document and on
 * [document]: an array of matches, or NULL with a message. The document
 * is validated (an array of {"field","description"}) and merged into
 * itself as a patch (RFC 7396: the result equals the patch when both are
 * objects without nulls, so it is only required to stay an object). */
#include "fuzz.h"

#include "gateway/tdd/tdd.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    char *nl = strchr(s, '\n');
    const char *doc_text = nl ? nl + 1 : "";
    if (nl)
        *nl = '\0';
    json_t *doc = json_loads(doc_text, JSON_DECODE_ANY, NULL);
    json_t *root = doc ? doc : json_null();
    json_t *wrapped = json_pack("[O]", root);
    char err[200];
    for (int k = 0; k < 2; k++) {
        json_t *r = gw__tdd_jsonpath(k ? wrapped : root, s, err, sizeof err);
        if (r)
            FUZZ_ASSERT(json_is_array(r));
        else
            FUZZ_ASSERT(err[0] != '\0');
        json_decref(r);
    }
    json_t *errs = gw__tdd_validate(root);
    FUZZ_ASSERT(json_is_array(errs));
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        FUZZ_ASSERT(json_is_string(json_object_get(e, "field")));
        FUZZ_ASSERT(json_is_string(json_object_get(e, "description")));
    }
    json_decref(errs);
    if (json_is_object(root)) {
        json_t *t = json_deep_copy(root);
        gw__tdd_merge_patch(t, root);
        FUZZ_ASSERT(json_is_object(t));
        json_decref(t);
    }
    json_decref(wrapped);
    json_decref(root);
    free(s);
    return 0;
}
