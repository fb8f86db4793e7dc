/* routes_plant.c - GET /api/v1/plant/... (HTTP thread; docs/fleet.md):
 * the plant view's snapshots of the cells and twins read from the
 * cluster. 404 when this gateway is not a plant view (plant.enabled). */
#include "gateway/http/http.h"
#include "gateway/plant/plant.h"

#include "ht_id.h"

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
