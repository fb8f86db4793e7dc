/* routes_plant.c - GET /api/v1/plant/... (HTTP thread; docs/fleet.md):
 * the plant view's snapshots of the cells and twins read from the
 * cluster. 404 when this gateway is not a plant view (plant.enabled). */
#include "gateway/http/http.h"
#include "gateway/plant/plant.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_util.h"

static enum MHD_Result not_plant(struct gw_req *r)
{
    return gw__reply_problem(r, 404, "Not Found",
                             "this gateway is not a plant view "
                             "(gatewayd --plant)");
}

enum MHD_Result gw__route_plant_cells(struct gw_req *r)
{
    if (!r->g->plant)
        return not_plant(r);
    return gw__reply_json(
        r, 200, json_pack("{s:o}", "items", gw__plant_cells(r->g->plant)));
}

/* POST /api/v1/plant/commands: checked here, then a GW_JOB_PLANT_WRITE
 * job (audited on this gateway) that the plant view sends to the owning
 * cell; the answer is the cell's, once it is audited there too. */
enum MHD_Result gw__route_plant_cmd(struct gw_req *r)
{
    if (!r->g->plant)
        return not_plant(r);
    json_error_t je;
    json_t *v = r->body ? json_loadb(r->body, r->body_len, 0, &je) : NULL;
    char err[200];
    if (!v || gw__plant_cmd_check(v, err, sizeof err) != HT_OK) {
        json_decref(v);
        return gw__reply_problem(r, 400, "Bad Request",
                                 v ? err : "the body must be a JSON object");
    }
    const char *dev = json_string_value(json_object_get(v, "device"));
    const char *twin = json_string_value(json_object_get(v, "twin"));
    struct gw_job *j =
        gw__job_new(GW_JOB_PLANT_WRITE, dev ? dev : twin, r->actor);
    ht_strlcpy(j->prop, json_string_value(json_object_get(v, "property")),
               sizeof j->prop);
    j->value = v;
    return gw__reply_job(r, j);
}

enum MHD_Result gw__route_plant_twins(struct gw_req *r)
{
    if (!r->g->plant)
        return not_plant(r);
    const char *site = gw__query(r, "site"), *cell = gw__query(r, "cell");
    if ((site && !ht_id_valid(site)) || (cell && !ht_id_valid(cell)))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "site and cell must be ids");
    return gw__reply_json(
        r, 200,
        json_pack("{s:o}", "items", gw__plant_twins(r->g->plant, site, cell)));
}
