/* alarms/alarms.h - the gateway's alarm glue (ISA-18.2, issue 15): the
 * alarm journal, the alarm lists the HTTP thread reads, the retained MQTT
 * alarm summary of each twin, the operators' and technicians' commands,
 * and the life cycles restored at start-up. The life cycle itself is the
 * twin engine's (twins/twin.h, docs/twins.md "Alarms"); the twin glue
 * reports each transition here and runs the commands on its engine.
 * Owns: struct gw_alarms (g->alarms): per twin the states of its alarms
 * (for the HTTP thread, under mu) and its last published summary.
 * Uses: core, metrics, store, jobs, twinglue.
 * Threads: transitions, commands (GW_JOB_ALARM jobs) and MQTT publishes run
 * on the loop thread; gw__alarms_list on any thread.
 */
#ifndef HT_GW_ALARMS_H
#define HT_GW_ALARMS_H

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

#endif
