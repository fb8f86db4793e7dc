/* cmd_tokens.c - `gwctl tokens [list | create --role R --name N |
 * revoke ID]`: API tokens (/api/v1/tokens, admin only). */
#include "gwctl.h"

#include "ht_mem.h"

#include <stdlib.h>
#include <string.h>

static const char *const roles[] = {"viewer", "operator", "technician", "admin",
                                    NULL};

static int tokens_list(struct gwctl *g)
{
    json_t *res, *items;
    int rc = gw_list(g, "/api/v1/tokens", &res, &items);
    if (rc != GW_EXIT_OK || !res)
        return rc;
    static const char *const hdr[] = {"ID", "ROLE", "CREATED", "LAST USED",
                                      "NAME"};
    struct gw_table *t = gw_table_new(5, hdr);
    size_t i;
    json_t *tk;
    json_array_foreach(items, i, tk)
    {
        char created[32], used[32], idb[32];
        json_t *idv = json_object_get(tk, "id");
        if (json_is_integer(idv))
            snprintf(idb, sizeof idb, "%lld",
                     (long long)json_integer_value(idv));
        else
            snprintf(idb, sizeof idb, "%s",
                     json_string_value(idv) ? json_string_value(idv) : "-");
        gw_fmt_time(
            (long long)json_integer_value(json_object_get(tk, "created")),
            created, sizeof created);
        gw_fmt_time(
            (long long)json_integer_value(json_object_get(tk, "last_used")),
            used, sizeof used);
        const char *row[] = {
            idb, json_string_value(json_object_get(tk, "role")), created, used,
            json_string_value(json_object_get(tk, "name"))};
        gw_table_row(t, row);
    }
    gw_table_print(t, stdout, g->color);
    gw_table_free(t);
    json_decref(res);
    return GW_EXIT_OK;
}

static int tokens_create(struct gwctl *g, int argc, char **argv)
{
    const char *role = NULL, *name = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else
            return gw_usage("tokens");
    }
    if (!role || !name)
        return gw_usage("tokens");
    bool known = false;
    for (size_t i = 0; roles[i]; i++)
        known |= !strcmp(role, roles[i]);
    if (!known) {
        fprintf(stderr, "gwctl: --role must be viewer, operator, technician "
                        "or admin\n");
        return GW_EXIT_USAGE;
    }
    if (!*name || strlen(name) > 100) {
        fprintf(stderr, "gwctl: --name needs 1..100 characters\n");
        return GW_EXIT_USAGE;
    }
    json_t *req = json_pack("{s:s, s:s}", "role", role, "name", name);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct gw_resp r;
    int rc = gw_request(g, "POST", "/api/v1/tokens", body, NULL, &r);
    free(body);
    if (rc != GW_EXIT_OK)
        return rc;
    const char *tok = json_string_value(json_object_get(r.json, "token"));
    json_t *idv = json_object_get(r.json, "id");
    if (r.status / 100 != 2) {
        rc = gw_fail(g, &r, "tokens create");
    } else if (!tok || !idv) {
        fprintf(stderr, "gwctl: tokens create: the answer has no id/token\n");
        rc = GW_EXIT_DEVICE;
    } else if (g->json) {
        json_t *o = json_pack("{s:O, s:s, s:s, s:s}", "id", idv, "token", tok,
                              "role", role, "name", name);
        gw_print_json(o);
        json_decref(o);
    } else {
        char *ids = gw_scalar_text(idv);
        printf("id     %s\nrole   %s\nname   %s\ntoken  %s\n", ids, role, name,
               tok);
        fprintf(stderr, "gwctl: the token is shown only once\n");
        free(ids);
    }
    gw_resp_clear(&r);
    return rc;
}

static int tokens_revoke(struct gwctl *g, const char *id)
{
    if (!*id || strlen(id) > 128) {
        fprintf(stderr, "gwctl: '%s' is not a token id\n", id);
        return GW_EXIT_USAGE;
    }
    char *e = gw_escape(id);
    char *path = ht_asprintf("/api/v1/tokens/%s", e);
    free(e);
    int rc = gw_act(g, "DELETE", path, "token ", id, "revoke", "revoked");
    free(path);
    return rc;
}

int gw_cmd_tokens(struct gwctl *g, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    if (!strcmp(sub, "list"))
        return argc <= 2 ? tokens_list(g) : gw_usage("tokens");
    if (!strcmp(sub, "create"))
        return tokens_create(g, argc, argv);
    if (!strcmp(sub, "revoke"))
        return argc == 3 ? tokens_revoke(g, argv[2]) : gw_usage("tokens");
    fprintf(stderr, "gwctl: unknown tokens subcommand '%s'\n", sub);
    return GW_EXIT_USAGE;
}
