/* ht_loop.h - the single-threaded poll() event loop of every daemon.
 *
 * I/O watchers (several may watch the same fd: D-Bus does that), monotonic
 * timers on a min-heap, prepare hooks run before each poll(), and a wakeup
 * eventfd. Nothing here is thread-safe except ht_loop_wakeup(), which is also
 * async-signal-safe. Watchers and timers may be freed from inside their own
 * callbacks; their memory is released only once the loop has let go.
 */
#ifndef HT_LOOP_H
#define HT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct ht_loop;
struct ht_io;
struct ht_timer;
struct ht_prepare;

enum {
    HT_LOOP_READ = 1,
    HT_LOOP_WRITE = 2,
    HT_LOOP_ERROR = 4, /* reported only: POLLERR, POLLHUP or POLLNVAL */
};

typedef void (*ht_io_cb)(struct ht_io *io, int fd, unsigned events, void *ud);
typedef void (*ht_timer_cb)(struct ht_timer *t, void *ud);
typedef void (*ht_prepare_cb)(struct ht_prepare *p, void *ud);
typedef void (*ht_wakeup_cb)(struct ht_loop *l, void *ud);
/* A clock returning monotonic milliseconds; swappable for tests. */
typedef uint64_t (*ht_clock_fn)(void *ud);

/* New loop (caller frees with ht_loop_free). Returns HT_OK or -errno. */
int ht_loop_new(struct ht_loop **out);
/* Free the loop; every watcher, timer and hook still registered is freed. */
void ht_loop_free(struct ht_loop *l);

/* Watch fd for events (HT_LOOP_READ|HT_LOOP_WRITE); events may be 0.
 * Returns new watcher, owned by the loop until ht_io_free. */
struct ht_io *ht_io_new(struct ht_loop *l, int fd, unsigned events, ht_io_cb cb,
                        void *ud);
void ht_io_set(struct ht_io *io, unsigned events);
unsigned ht_io_events(const struct ht_io *io);
int ht_io_fd(const struct ht_io *io);
/* Stop watching (does not close fd). NULL is a no-op. */
void ht_io_free(struct ht_io *io);

/* A timer, initially stopped. Owned by the loop until ht_timer_free. */
struct ht_timer *ht_timer_new(struct ht_loop *l, ht_timer_cb cb, void *ud);
/* (Re)start: first fire after after_ms, then every repeat_ms (0 = once). */
void ht_timer_start(struct ht_timer *t, uint64_t after_ms, uint64_t repeat_ms);
void ht_timer_stop(struct ht_timer *t);
bool ht_timer_active(const struct ht_timer *t);
/* Absolute due time in loop milliseconds (0 if stopped). */
uint64_t ht_timer_due(const struct ht_timer *t);
void ht_timer_free(struct ht_timer *t);

/* Called before every poll(); used by adapters that must re-read state such
 * as mosquitto_want_write(). */
struct ht_prepare *ht_prepare_new(struct ht_loop *l, ht_prepare_cb cb,
                                  void *ud);
void ht_prepare_free(struct ht_prepare *p);

/* Called in the loop each time ht_loop_wakeup() was called at least once
 * since the last time (coalesced). One callback per loop; NULL clears. */
void ht_loop_on_wakeup(struct ht_loop *l, ht_wakeup_cb cb, void *ud);
/* Thread-safe and async-signal-safe. */
void ht_loop_wakeup(struct ht_loop *l);

/* Loop time in ms (cached at each iteration; monotonic). */
uint64_t ht_loop_now(const struct ht_loop *l);
/* Refresh the cached time from the clock. */
void ht_loop_update_time(struct ht_loop *l);
/* Swap the clock (tests). NULL restores the monotonic clock. */
void ht_loop_set_clock(struct ht_loop *l, ht_clock_fn fn, void *ud);

/* One iteration: prepare hooks, poll up to timeout_ms (-1 = until the next
 * timer or event), dispatch. Returns the number of callbacks run or -errno. */
int ht_loop_run_once(struct ht_loop *l, int timeout_ms);
/* Run until ht_loop_stop(). Returns HT_OK or -errno. */
int ht_loop_run(struct ht_loop *l);
/* Make ht_loop_run() return after the current iteration. */
void ht_loop_stop(struct ht_loop *l);
bool ht_loop_stopping(const struct ht_loop *l);

#endif
