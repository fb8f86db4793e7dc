/* alarms/alarms.h - the gateway's alarm glue (ISA-18.2, issue 15): the
 * alarm journal, the alarm lists the HTTP thread reads, the retained MQTT
 * alarm summary of each twin, the operators' and technicians' commands,
 * and the life cycles restored at start-up. The life cycle itself is the
 * twin engine's (twins/twin.h, docs/twins.md "Alarms"); the twin glue
 * reports each transition here and runs the commands on its engine.
 * Owns: struct gw_alarms (g->alarms): per twin the states of its alarms
 * (for the HTTP thread, under mu) and its last published summary.
 * Uses: core, metrics, store, jobs, twinglue, auth (the roles of the
 * commands).
 * Threads: transitions, commands (GW_JOB_ALARM jobs) and MQTT publishes run
 * on the loop thread; gw__alarms_list on any thread.
 */
#ifndef HT_GW_ALARMS_H
#define HT_GW_ALARMS_H

#include "gateway/auth/auth.h"
#include "gateway/core/gw.h"

#include <jansson.h>
#include <stdbool.h>

/* Which alarms gw__alarms_list returns; NULL members do not filter. */
struct gw_alarm_filter {
    const char *twin;     /* one twin */
    const char *state;    /* a life-cycle state name */
    const char *priority; /* critical, high, medium, low */
    bool unacked;         /* only unacknowledged alarms */
    bool all;             /* also those in the normal state */
};

/* Loop thread, after gw__twins_init: create g->alarms, subscribe to the
 * twin glue's transitions, take GW_JOB_ALARM jobs and restore each alarm's
 * newest journaled state. HT_OK or an error with err filled. */
int gw__alarms_init(struct ht_gw *g, char *err, size_t errlen);
/* Free g->alarms (before the twin glue is cleared). Safe when NULL. */
void gw__alarms_clear(struct ht_gw *g);

/* Any thread: the alarms that pass f (borrowed), most urgent first
 * (priority, unacknowledged first, newest), each as the engine's alarm
 * state with "id" ("TWIN:RULE"). New array. */
json_t *gw__alarms_list(struct ht_gw *g, const struct gw_alarm_filter *f);

/* Pure: an alarm command as REST (POST /api/v1/alarms/{id}/{verb}) and
 * the plant view's routed commands (docs/fleet.md) both take it: verb
 * ("ack", "shelve", "unshelve", "out-of-service", "in-service"), rule
 * (borrowed) and the optional body (borrowed; NULL: none) {"note"?,
 * "duration_ms"? (shelve: required, 1 ms to 24 h)}. On HT_OK *action is
 * the job's audit action ("alarm-ack", ...; static), *value the job's
 * value {"rule","note"?,"duration_ms"?} (new) and *role the least role
 * that may run it (as the REST route). HT_ENOENT for an unknown verb;
 * HT_EINVAL with a reason in err for a bad body. */
int gw__alarms_cmd_parse(const char *verb, const char *rule, const json_t *body,
                         const char **action, json_t **value,
                         enum gw_role *role, char *err, size_t errlen);

#endif
