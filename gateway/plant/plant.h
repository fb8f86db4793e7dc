/* plant/plant.h - the plant view (issue 22, docs/fleet.md): with
 * plant.enabled (gatewayd --plant) the gateway reads the plant's JetStream
 * stream from its first record, discovers cells from their "hello"
 * records and folds every cell's twin events into one table of the twins
 * of every machine of every cell, each naming its site and cell. The
 * table lives in memory and is rebuilt from the stream (replicated on the
 * cluster) at every start: a restart of the plant view or the loss of one
 * cluster node loses nothing. Read-only: GET /api/v1/plant/....
 * Owns: struct gw_plant (g->plant): the NATS connection, the ordered
 * consumer, the table of cells and twins.
 * Uses: core, upstream (the connection options and the stream), jobs
 * (POST /api/v1/plant/commands runs as a GW_JOB_PLANT_WRITE job, audited
 * here, and is sent to the owning cell, which runs and audits it too).
 * Threads: new/start/stop/free on the loop thread; the consumer's
 * callback runs on a libnats thread; the snapshots below on any thread;
 * all under the table's mutex.
 */
#ifndef HT_GW_PLANT_H
#define HT_GW_PLANT_H

#include "gateway/core/gw.h"

#include <jansson.h>
#include <stddef.h>

struct gw_plant;

/* Loop thread: when plant.enabled, check the config (upstream.url names
 * the cluster, with the plant's account) and create *out (new; NULL when
 * the plant view is off). HT_OK or HT_EINVAL with err filled. */
int gw__plant_new(struct ht_gw *g, struct gw_plant **out, char *err,
                  size_t errlen);
/* Loop thread: start the thread that connects, waits for the stream and
 * consumes it (reconnecting, and re-creating the consumer, by itself).
 * NULL p is a no-op. HT_OK or an error with err filled. */
int gw__plant_start(struct gw_plant *p, char *err, size_t errlen);
/* Loop thread: stop consuming and close the connection; free. NULL is a
 * no-op. */
void gw__plant_free(struct gw_plant *p);

/* Pure: check a plant command {"site","cell","device"|"twin","property",
 * "value"} (borrowed): HT_OK, or HT_EINVAL with a reason in err. */
int gw__plant_cmd_check(const json_t *req, char *err, size_t errlen);

/* Any thread: [{"site","cell","gateway","version","http","records",
 * "last_seq","last_ts","twins","audit"}] ordered by site and cell (new). */
json_t *gw__plant_cells(struct gw_plant *p);
/* Any thread: the twins whose site and cell match (NULL: any; borrowed):
 * [{"site","cell","id","version","updated","stable","properties":{},
 * "alarms":[...]}] ordered by site, cell, id (new). */
json_t *gw__plant_twins(struct gw_plant *p, const char *site, const char *cell);
/* Any thread: records applied so far (stream messages read). */
unsigned long long gw__plant_records(struct gw_plant *p);

#endif
