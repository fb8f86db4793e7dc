/* control/control.h - operating a twin safely together (issue 16): shared
 * control (at most one holder per twin, its lease), and the gate every
 * command passes before it is sent: a twin held by someone else answers
 * 423, an interlock rule that the command would put into alarm or a
 * permissive that does not hold answers 409, unless a technician
 * overrides it with a reason (audited).
 * Owns: struct gw_control (g->control): the holders (under mu, for the
 * HTTP thread), the lease timer, the retained twins/{id}/control topics,
 * the GW_JOB_CONTROL_* jobs and the jobs' gate.
 * Uses: core, store (audit), sse (events, the holders' live streams),
 * jobs, auth (roles), twinglue (the engine's models and checks), ingest
 * (the apps' status topics: an MQTT app's live connection).
 * Threads: jobs, the gate, the timer and publishes on the loop thread;
 * gw__control_get on any thread.
 */
#ifndef HT_GW_CONTROL_H
#define HT_GW_CONTROL_H

#include "gateway/core/gw.h"

#include <jansson.h>
#include <stddef.h>

/* Loop thread, after gw__twins_init: create g->control, take the
 * GW_JOB_CONTROL_* jobs and become the jobs' gate. HT_OK or an error with
 * err (errlen bytes) filled. */
int gw__control_init(struct ht_gw *g, char *err, size_t errlen);
/* Free g->control (before the twin glue is cleared). Safe when NULL. */
void gw__control_clear(struct ht_gw *g);

/* Any thread: who holds twin (borrowed) now, as the API shows it (new):
 * {"twin", "required", "holder": null | {"name", "token", "since",
 * "forced"}}. */
json_t *gw__control_get(struct ht_gw *g, const char *twin);
/* Any thread: the holder of twin (borrowed) as in gw__control_get (new),
 * or NULL when nobody holds it. Cheap: no twin document is read. */
json_t *gw__control_holder(struct ht_gw *g, const char *twin);

#endif
