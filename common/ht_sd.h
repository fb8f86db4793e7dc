/* ht_sd.h - the service manager's notification protocol (sd_notify).
 *
 * A daemon started by systemd with Type=notify tells it when it is ready
 * (READY=1), when it stops (STOPPING=1) and, when the unit has
 * WatchdogSec=, that its loop is alive (WATCHDOG=1 from a loop timer, so a
 * loop that hangs stops the pings and systemd restarts the service).
 * Outside systemd (no NOTIFY_SOCKET) every call is a no-op. Loop thread only.
 */
#ifndef HT_SD_H
#define HT_SD_H

struct ht_loop;
struct ht_sd;

/* Send READY=1 (with MAINPID) and, when WATCHDOG_USEC is set for this
 * process, start a timer on loop that sends WATCHDOG=1 every half period.
 * Call once the daemon serves. loop is borrowed and must outlive the
 * handle. Returns a new handle (never NULL; free with ht_sd_free). */
struct ht_sd *ht_sd_ready(struct ht_loop *loop);

/* Send RELOADING=1 before a configuration reload and READY=1 after it
 * (done = 0, then 1), so `systemctl reload` waits for the reload. NULL is
 * a no-op. */
void ht_sd_reloading(struct ht_sd *sd, int done);

/* Send STOPPING=1 and stop the watchdog pings. NULL is a no-op. */
void ht_sd_stopping(struct ht_sd *sd);

/* Stop the timer and free the handle. NULL is a no-op. */
void ht_sd_free(struct ht_sd *sd);

#endif
