/* plant/plant.h - the plant view (issue 22, docs/fleet.md): with
 * plant.enabled (gatewayd --plant) the gateway reads the plant's JetStream
 * stream from its first record, discovers cells from their "hello"
 * records and folds every cell's twin events into one table of the twins
 * of every machine of every cell, each naming its site and cell. The
 * table lives in memory and is rebuilt from the stream (replicated on the
 * cluster) at every start: a restart of the plant view or the loss of one
 * cluster node loses nothing. It serves GET /api/v1/plant/... and, for
 * the web clients, the cell's twin routes (/api/v1/twins, .../state,
 * .../ui, /api/v1/alarms, /api/v1/events) over every twin of every cell,
 * named by a plant id "{site}~{cell}~{twin}" (docs/fleet.md).
 * Owns: struct gw_plant (g->plant): the NATS connection, the ordered
 * consumer, the table of cells and twins.
 * Uses: core, auth (a routed alarm command names the caller's role),
 * sse (the live records become the view's SSE events),
 * upstream (the connection options and the stream), jobs
 * (POST /api/v1/plant/commands runs as a GW_JOB_PLANT_WRITE job, audited
 * here, and is sent to the owning cell, which runs and audits it too).
 * Threads: new/start/stop/free on the loop thread; the consumer's
 * callback runs on a libnats thread; the snapshots below on any thread;
 * all under the table's mutex. Live records become SSE events through a
 * queue that the loop's prepare hook empties (ht_loop_wakeup): the
 * libnats thread never touches the event log.
 */
#ifndef HT_GW_PLANT_H
#define HT_GW_PLANT_H

#include "gateway/core/gw.h"

#include "ht_id.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A plant twin id: "{site}~{cell}~{twin}", three ids of the contract
 * joined by '~', which no id holds: one path segment, unreserved in URLs
 * (RFC 3986), never ambiguous. */
#define GW_PLANT_SEP "~"
#define GW_PLANT_ID_MAX (3 * HT_ID_MAX + 3)

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
/* Pure: the plant id of twin of cell of site (borrowed) into out (outlen
 * bytes). HT_OK, or HT_EINVAL when one is not an id or out is short. */
int gw__plant_id(const char *site, const char *cell, const char *twin,
                 char *out, size_t outlen);
/* Pure: split a plant id (borrowed) into its three ids (filled). HT_OK,
 * or HT_EINVAL for anything else (hostile ids: "+", "#", "/", "..",
 * missing or extra parts). */
int gw__plant_id_split(const char *pid, char site[HT_ID_MAX + 1],
                       char cell[HT_ID_MAX + 1], char twin[HT_ID_MAX + 1]);
/* Pure: true for a plant id. */
bool gw__plant_id_valid(const char *pid);

/* Any thread: every twin of every cell as GET /api/v1/twins lists them:
 * [{"id" (plant id),"site","cell","twin" (the cell's id),"title",
 * "version","updated","auto","device"?,"stable","alarms" (not normal)}]
 * ordered by site, cell, twin (new). */
json_t *gw__plant_twin_list(struct gw_plant *p);
/* Any thread: true when the view knows twin pid (borrowed). */
bool gw__plant_twin_exists(struct gw_plant *p, const char *pid);
/* Any thread: the twin's document as its cell has it (new), or NULL
 * (unknown twin, or its document not read yet). */
json_t *gw__plant_twin_doc(struct gw_plant *p, const char *pid);
/* Any thread: the cell's last state snapshot of the twin, as the cell's
 * GET .../state serves it (new text with a newline, *len bytes), or NULL
 * when none was read yet. */
char *gw__plant_twin_state(struct gw_plant *p, const char *pid, size_t *len);
/* Any thread: the cell's operator descriptor of the twin for target
 * ("web"|"hmd", borrowed): *out new bytes as the cell rendered them
 * (*len), etag (etaglen bytes) its ETag. HT_OK; HT_ENOENT for an unknown
 * twin; HT_EAGAIN when none was read yet; HT_ETOOBIG when the cell could
 * not send it (above a NATS message). */
int gw__plant_twin_ui(struct gw_plant *p, const char *pid, const char *target,
                      char **out, size_t *len, char *etag, size_t etaglen);
/* Any thread: the alarms of twin pid (borrowed; NULL: every twin) with
 * "id" ("{pid}:{rule}"), "twin" (plant id), "rule", "site", "cell" and
 * the alarm's state; only those not normal unless all (new array). */
json_t *gw__plant_alarms(struct gw_plant *p, const char *pid, bool all);
/* Any thread: true when plant.commands routes writes to the cells. */
bool gw__plant_commands(const struct gw_plant *p);
/* Any thread: records applied so far (stream messages read). */
unsigned long long gw__plant_records(struct gw_plant *p);

#endif
