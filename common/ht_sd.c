/* ht_sd.c - sd_notify readiness, reload, stop and watchdog pings.
 *
 * libsystemd's sd_notify() does the protocol (socket path, abstract
 * namespace, credentials); this file only decides when to call it. */
#include "ht_sd.h"

#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

struct ht_sd {
    struct ht_loop *loop;
    struct ht_timer *watchdog; /* NULL without WatchdogSec= */
};

static void notify(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        ht_log(LOG_WARNING, "sd", "sd_notify(%s): %s", state, strerror(-rc));
}

/* The pings come from the loop itself: a loop that hangs stops pinging,
 * which is what the watchdog is for. */
static void on_watchdog(struct ht_timer *t, void *ud)
{
    (void)t;
    (void)ud;
    notify("WATCHDOG=1");
}

struct ht_sd *ht_sd_ready(struct ht_loop *loop)
{
    struct ht_sd *sd = ht_calloc(1, sizeof *sd);
    sd->loop = loop;
    char state[64];
    snprintf(state, sizeof state, "READY=1\nMAINPID=%ld", (long)getpid());
    notify(state);
    uint64_t usec = 0;
    /* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID is ours (or
     * unset); the environment is left in place for sd_notify. */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        uint64_t ms = usec / 2000;
        if (ms == 0)
            ms = 1;
        sd->watchdog = ht_timer_new(loop, on_watchdog, sd);
        ht_timer_start(sd->watchdog, ms, ms);
        ht_log(LOG_DEBUG, "sd", "watchdog: ping every %llu ms",
               (unsigned long long)ms);
    }
    return sd;
}

void ht_sd_reloading(struct ht_sd *sd, int done)
{
    if (sd)
        notify(done ? "READY=1" : "RELOADING=1");
}

void ht_sd_stopping(struct ht_sd *sd)
{
    if (!sd)
        return;
    notify("STOPPING=1");
    if (sd->watchdog)
        ht_timer_stop(sd->watchdog);
}

void ht_sd_free(struct ht_sd *sd)
{
    if (!sd)
        return;
    ht_timer_free(sd->watchdog);
    free(sd);
}
