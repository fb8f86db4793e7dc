/* upstream/upstream.h - the cell's uplink to the plant (issue 22,
 * docs/fleet.md): twin events (state, alarm transitions, descriptors,
 * twin changes), audit records and, when configured, value samples are
 * forwarded to a NATS JetStream cluster under the subjects
 * site.{site}.cell.{cell}...., through a durable outbox
 * (DATA_DIR/upstream.db, a SQLite file of its own) so that nothing is lost
 * while the uplink is down and the backlog is replayed in order when it
 * returns. The cell never waits for the uplink.
 * Owns: struct gw_upstream (g->upstream): the outbox, the NATS connection
 * (libnats, its own threads) and the sender thread.
 * Uses: core, alarms (alarm commands routed by the plant view), auth,
 * metrics (upstream counters), sse (its tap), twinglue
 * (descriptors, state snapshots, twin documents), store (the audit
 * record type), jobs and apps (commands the plant view routes here run as
 * audited write jobs, parsed like an app's request).
 * Threads: gw__upstream_new/start/stop/free on the loop thread;
 * gw__upstream_audit on any thread; the tap runs on the loop thread and
 * only appends to a locked in-memory queue that the sender thread moves to
 * the outbox (one transaction per wake-up) and publishes from.
 */
#ifndef HT_GW_UPSTREAM_H
#define HT_GW_UPSTREAM_H

#include "gateway/core/gw.h"
#include "gateway/store/store.h"

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_upstream;

/* Longest subject the upstream builds (bytes, with the NUL). */
#define GW_UP_SUBJECT_MAX 256
/* Largest record data: NATS' default max_payload (1 MiB) less room for
 * the subject and headers. A larger record is dropped and counted
 * (holotwin_upstream_oversize_total); a larger descriptor goes without
 * its document. A cluster with a smaller max_payload: checked again when
 * publishing. */
#define GW_UP_RECORD_MAX (1024 * 1024 - 1024)

/* Loop thread: when upstream.url is set, validate the upstream config,
 * open DATA_DIR/upstream.db and create *out (new; NULL when no upstream
 * is configured). HT_OK, or HT_EINVAL/HT_EDB with err filled. Nothing is
 * connected until gw__upstream_start. */
int gw__upstream_new(struct ht_gw *g, struct gw_upstream **out, char *err,
                     size_t errlen);
/* Loop thread: queue what the store's SSE and audit logs hold beyond the
 * outbox's cursors (what a crash or the start-up left; a new outbox starts
 * at the logs' ends), register the SSE tap, queue the cell's "hello"
 * record and start the sender thread, which connects (and reconnects) in
 * the background. HT_OK or an error with err filled. */
int gw__upstream_start(struct gw_upstream *u, char *err, size_t errlen);
/* Loop thread: unregister the tap, move what is queued in memory to the
 * outbox, stop the sender and close the connection (the outbox keeps
 * whatever the cluster has not acknowledged). NULL is a no-op. */
void gw__upstream_stop(struct gw_upstream *u);
/* Stop if needed and free. NULL is a no-op. */
void gw__upstream_free(struct gw_upstream *u);
/* Any thread: queue one audit record (a borrowed; id its row id in the
 * store) for the plant. NULL u is a no-op. */
void gw__upstream_audit(struct gw_upstream *u, int64_t id,
                        const struct ht_store_audit *a);
/* Any thread: wait up to timeout_ms until the outbox is empty and nothing
 * is queued; true if it is. For tests and a clean shutdown. */
bool gw__upstream_drained(struct gw_upstream *u, int timeout_ms);

/* Any thread: libnats options for the cluster of c (borrowed):
 * upstream.url's servers in the order given, the account, TLS with
 * upstream.cafile, reconnecting forever every 250 ms, pings every 5 s;
 * name (borrowed) names the connection. *out new (natsOptions_Destroy).
 * HT_OK, or HT_EINVAL with err filled. Also used by the plant view. */
int gw__upstream_nats_options(const struct ht_gw_conf *c, const char *name,
                              natsOptions **out, char *err, size_t errlen);
/* Any thread (blocking, a JetStream request): make sure the plant's stream
 * upstream.stream exists, creating it (subjects site.>, file storage,
 * upstream.replicas copies, a 10-minute Nats-Msg-Id window) if it does
 * not; an existing stream is used as it is. js borrowed. True when it
 * exists. */
bool gw__upstream_stream_ensure(jsCtx *js, const struct ht_gw_conf *c);

/* Pure: the "descriptor" record of a twin (all borrowed): {"twin",
 * "target","etag","version","ts","document"} with the descriptor's len
 * bytes as the JSON string "document"; when that text would exceed max
 * bytes, "document" is left out, "omitted":"too_large" and "size" say why
 * and *omitted is set. New text, *outlen bytes. */
char *gw__upstream_desc_record(const char *twin, const char *target,
                               const char *etag, int version, int64_t ts,
                               const char *doc, size_t len, size_t max,
                               size_t *outlen, bool *omitted);
/* Pure: write into out (outlen bytes) the subject token for id: '.'
 * becomes '=' (not in the id alphabet, so no two ids share a token) and
 * anything outside [A-Za-z0-9_=-] becomes '_'. Returns HT_OK, or
 * HT_EINVAL when id is empty or does not fit. */
int gw__upstream_token(const char *id, char *out, size_t outlen);

#endif
