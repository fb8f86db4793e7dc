/* sse/sse.h - the real-time event log (a bounded ring, persisted through
 * the store) and the Server-Sent Event streams that read it: GET
 * /api/v1/events and the per-property observe streams.
 * Owns: struct gw_sse_log (g->log): the ring, the stream list, the
 * prepare hook that wakes the streams once per loop iteration.
 * Uses: core, store.
 * Threads: appends on the loop thread; streams are read on the HTTP
 * thread; both under log->mu.
 */
#ifndef HT_GW_SSE_H
#define HT_GW_SSE_H

#include "gateway/core/gw.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Create g->log (events.ring slots). Loop thread. */
int gw__sse_init(struct ht_gw *g);
/* Free g->log. Safe when NULL. */
void gw__sse_clear(struct ht_gw *g);
/* Loop thread: append an event (data taken: new JSON object), persist it
 * (batched) and wake the streams. dev/prop/twin borrowed, may be NULL;
 * value borrowed (state events), may be NULL. */
void gw__sse_emit(struct ht_gw *g, const char *type, const char *dev,
                  const char *prop, const char *twin, const json_t *value,
                  json_t *data);
/* Loop thread: the same with data as JSON text (dlen bytes) and the value
 * as JSON text (may be NULL); both borrowed. */
void gw__sse_push(struct ht_gw *g, const char *type, const char *dev,
                  const char *prop, const char *twin, const char *value,
                  const char *data, size_t dlen);
/* Loop thread: the "state" event of one property value (vtext: its JSON
 * text, borrowed). */
void gw__sse_value(struct ht_gw *g, const char *dev, const char *prop,
                   const char *vtext, int64_t ts, int64_t seq);
/* The same with quality q ("good", "stale", ...: static, no escaping). */
void gw__sse_value_quality(struct ht_gw *g, const char *dev, const char *prop,
                           const char *vtext, int64_t ts, int64_t seq,
                           const char *q);
/* A listener to every event appended to the log (the upstream module
 * registers one, so that this module need not know it). Called on the loop
 * thread right after the append; every pointer is borrowed for the call
 * (dev, prop, twin may be NULL; data is dlen bytes of JSON text). */
struct gw_sse_tap {
    void (*on_event)(void *ud, int64_t id, int64_t ts, const char *type,
                     const char *dev, const char *prop, const char *twin,
                     const char *data, size_t dlen);
    void *ud;
};
/* Loop thread: register the one tap (t copied; NULL or a zeroed tap
 * removes it). */
void gw__sse_tap(struct ht_gw *g, const struct gw_sse_tap *t);
/* Loop thread: wake every stream to send a keep-alive comment. */
void gw__sse_ping(struct ht_gw *g);
/* Any thread: end every stream (before MHD stops). */
void gw__sse_close(struct ht_gw *g);
/* HTTP thread: a response streaming events to conn (new; NULL on limits).
 * dev, prop, twin borrowed (filters, may be NULL); owner (borrowed, may be
 * NULL) names who holds the stream, for gw__sse_owned. */
struct MHD_Response *gw__sse_response(struct ht_gw *g,
                                      struct MHD_Connection *conn,
                                      int64_t last_id, bool observe,
                                      const char *dev, const char *prop,
                                      const char *twin, const char *owner);
/* HTTP thread: a stream of unnamed data: events (what WoT consumers such
 * as node-wot read) for one twin (borrowed id): with ref ("c.p", borrowed)
 * the property's values from the twin's "state" events; with evtype
 * ("alarm-raised", "alarm-cleared", "stable-changed"; borrowed) the data of
 * those events. Exactly one of ref and evtype is non-NULL. New response,
 * NULL on bad arguments or limits. */
struct MHD_Response *gw__sse_response_twin(struct ht_gw *g,
                                           struct MHD_Connection *conn,
                                           int64_t last_id, const char *twin,
                                           const char *ref, const char *evtype,
                                           const char *owner);
/* Number of open streams whose owner is owner (borrowed). Any thread. */
size_t gw__sse_owned(struct ht_gw *g, const char *owner);
/* Bytes of the events held in the ring (<= events.ring_kb KiB, or one
 * event when a single one is larger). Any thread. */
size_t gw__sse_ring_bytes(struct ht_gw *g);
/* Number of open streams. Any thread. */
size_t gw__sse_clients(struct ht_gw *g);

#endif
