/* ht_loop.c - poll()-based event loop with a timer heap and a wakeup fd.
 *
 * poll() rather than epoll: a daemon here watches a handful of fds (the
 * broker socket, D-Bus, GPIO line events, the wakeup fd), and poll() lets two
 * watchers share an fd without bookkeeping. Freed watchers and timers are
 * only marked dead and reaped after dispatch, so any callback may free any
 * watcher, including its own.
 */
#include "ht_loop.h"

#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct ht_io {
    struct ht_loop *loop;
    int fd;
    unsigned events;
    ht_io_cb cb;
    void *ud;
    bool dead;
};

struct ht_timer {
    struct ht_loop *loop;
    ht_timer_cb cb;
    void *ud;
    uint64_t due;
    uint64_t seq; /* arming order: ties on due run oldest first */
    uint64_t repeat;
    size_t heap_idx; /* SIZE_MAX when not in the heap */
    bool dead;
};

struct ht_prepare {
    ht_prepare_cb cb;
    void *ud;
    bool dead;
};

struct ht_loop {
    struct ht_io **ios;
    size_t nios, capios;
    struct pollfd *pfds;
    size_t cappfds;

    struct ht_timer **heap;
    size_t nheap, capheap;
    uint64_t timer_seq; /* arming counter (struct ht_timer.seq) */
    struct ht_timer **dead_timers;
    size_t ndead, capdead;

    struct ht_prepare **preps;
    size_t npreps, cappreps;

    int wake_fd;
    ht_wakeup_cb wake_cb;
    void *wake_ud;

    ht_clock_fn clock;
    void *clock_ud;
    uint64_t now;
    bool stop;
    bool reap;
};

static uint64_t mono_clock(void *ud)
{
    (void)ud;
    return ht_mono_ms();
}

int ht_loop_new(struct ht_loop **out)
{
    *out = NULL;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct ht_loop *l = ht_calloc(1, sizeof *l);
    l->wake_fd = fd;
    l->clock = mono_clock;
    l->now = mono_clock(NULL);
    *out = l;
    return HT_OK;
}

void ht_loop_free(struct ht_loop *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nios; i++)
        free(l->ios[i]);
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    for (size_t i = 0; i < l->ndead; i++)
        free(l->dead_timers[i]);
    for (size_t i = 0; i < l->npreps; i++)
        free(l->preps[i]);
    free(l->ios);
    free(l->pfds);
    free(l->heap);
    free(l->dead_timers);
    free(l->preps);
    close(l->wake_fd);
    free(l);
}

/* ---- I/O watchers ---- */

struct ht_io *ht_io_new(struct ht_loop *l, int fd, unsigned events, ht_io_cb cb,
                        void *ud)
{
    struct ht_io *io = ht_calloc(1, sizeof *io);
    io->loop = l;
    io->fd = fd;
    io->events = events;
    io->cb = cb;
    io->ud = ud;
    if (l->nios == l->capios) {
        l->capios = l->capios ? l->capios * 2 : 8;
        l->ios = ht_realloc(l->ios, l->capios * sizeof *l->ios);
    }
    l->ios[l->nios++] = io;
    return io;
}

void ht_io_set(struct ht_io *io, unsigned events)
{
    io->events = events;
}

unsigned ht_io_events(const struct ht_io *io)
{
    return io->events;
}

int ht_io_fd(const struct ht_io *io)
{
    return io->fd;
}

void ht_io_free(struct ht_io *io)
{
    if (!io)
        return;
    io->dead = true;
    io->cb = NULL;
    io->loop->reap = true;
}

/* ---- timers: a binary min-heap on due time ---- */

static void heap_swap(struct ht_loop *l, size_t a, size_t b)
{
    struct ht_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

/* Heap order: due time, then arming order. */
static bool before(const struct ht_timer *a, const struct ht_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_up(struct ht_loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(l->heap[i], l->heap[p]))
            break;
        heap_swap(l, p, i);
        i = p;
    }
}

static void heap_down(struct ht_loop *l, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < l->nheap && before(l->heap[c], l->heap[m]))
            m = c;
        if (c + 1 < l->nheap && before(l->heap[c + 1], l->heap[m]))
            m = c + 1;
        if (m == i)
            break;
        heap_swap(l, i, m);
        i = m;
    }
}

static void heap_remove(struct ht_loop *l, struct ht_timer *t)
{
    size_t i = t->heap_idx;
    if (i == SIZE_MAX)
        return;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_idx = SIZE_MAX;
}

struct ht_timer *ht_timer_new(struct ht_loop *l, ht_timer_cb cb, void *ud)
{
    struct ht_timer *t = ht_calloc(1, sizeof *t);
    t->loop = l;
    t->cb = cb;
    t->ud = ud;
    t->heap_idx = SIZE_MAX;
    return t;
}

void ht_timer_start(struct ht_timer *t, uint64_t after_ms, uint64_t repeat_ms)
{
    struct ht_loop *l = t->loop;
    heap_remove(l, t);
    t->due = l->now + after_ms;
    t->seq = ++l->timer_seq;
    t->repeat = repeat_ms;
    if (l->nheap == l->capheap) {
        l->capheap = l->capheap ? l->capheap * 2 : 16;
        l->heap = ht_realloc(l->heap, l->capheap * sizeof *l->heap);
    }
    t->heap_idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_idx);
}

void ht_timer_stop(struct ht_timer *t)
{
    heap_remove(t->loop, t);
    t->due = 0;
}

bool ht_timer_active(const struct ht_timer *t)
{
    return t->heap_idx != SIZE_MAX;
}

uint64_t ht_timer_due(const struct ht_timer *t)
{
    return ht_timer_active(t) ? t->due : 0;
}

void ht_timer_free(struct ht_timer *t)
{
    if (!t)
        return;
    struct ht_loop *l = t->loop;
    heap_remove(l, t);
    t->dead = true;
    if (l->ndead == l->capdead) {
        l->capdead = l->capdead ? l->capdead * 2 : 8;
        l->dead_timers =
            ht_realloc(l->dead_timers, l->capdead * sizeof *l->dead_timers);
    }
    l->dead_timers[l->ndead++] = t;
    l->reap = true;
}

/* ---- prepare hooks, wakeup, clock ---- */

struct ht_prepare *ht_prepare_new(struct ht_loop *l, ht_prepare_cb cb, void *ud)
{
    struct ht_prepare *p = ht_calloc(1, sizeof *p);
    p->cb = cb;
    p->ud = ud;
    if (l->npreps == l->cappreps) {
        l->cappreps = l->cappreps ? l->cappreps * 2 : 4;
        l->preps = ht_realloc(l->preps, l->cappreps * sizeof *l->preps);
    }
    l->preps[l->npreps++] = p;
    return p;
}

void ht_prepare_free(struct ht_prepare *p)
{
    if (!p)
        return;
    p->dead = true;
    /* Reaped with the loop's next sweep; the loop pointer is not stored, so
     * the sweep checks every hook. */
}

void ht_loop_on_wakeup(struct ht_loop *l, ht_wakeup_cb cb, void *ud)
{
    l->wake_cb = cb;
    l->wake_ud = ud;
}

void ht_loop_wakeup(struct ht_loop *l)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: a wakeup is pending. */
    ssize_t r = write(l->wake_fd, &one, sizeof one);
    (void)r;
}

uint64_t ht_loop_now(const struct ht_loop *l)
{
    return l->now;
}

void ht_loop_update_time(struct ht_loop *l)
{
    l->now = l->clock(l->clock_ud);
}

void ht_loop_set_clock(struct ht_loop *l, ht_clock_fn fn, void *ud)
{
    l->clock = fn ? fn : mono_clock;
    l->clock_ud = fn ? ud : NULL;
    ht_loop_update_time(l);
}

void ht_loop_stop(struct ht_loop *l)
{
    l->stop = true;
}

bool ht_loop_stopping(const struct ht_loop *l)
{
    return l->stop;
}

/* ---- the iteration ---- */

static void reap(struct ht_loop *l)
{
    size_t j = 0;
    for (size_t i = 0; i < l->nios; i++) {
        if (l->ios[i]->dead)
            free(l->ios[i]);
        else
            l->ios[j++] = l->ios[i];
    }
    l->nios = j;
    for (size_t i = 0; i < l->ndead; i++)
        free(l->dead_timers[i]);
    l->ndead = 0;
    j = 0;
    for (size_t i = 0; i < l->npreps; i++) {
        if (l->preps[i]->dead)
            free(l->preps[i]);
        else
            l->preps[j++] = l->preps[i];
    }
    l->npreps = j;
    l->reap = false;
}

/* Only timers armed before this round run in it: one that re-arms itself
 * with no delay (work done in slices) waits for the next iteration, so
 * I/O and signals are served in between. */
static int run_timers(struct ht_loop *l)
{
    int n = 0;
    uint64_t last = l->timer_seq;
    while (l->nheap > 0 && l->heap[0]->due <= l->now &&
           l->heap[0]->seq <= last) {
        struct ht_timer *t = l->heap[0];
        heap_remove(l, t);
        if (t->repeat)
            ht_timer_start(t, t->repeat, t->repeat);
        t->cb(t, t->ud);
        n++;
    }
    return n;
}

int ht_loop_run_once(struct ht_loop *l, int timeout_ms)
{
    size_t npreps = l->npreps;
    for (size_t i = 0; i < npreps; i++)
        if (!l->preps[i]->dead)
            l->preps[i]->cb(l->preps[i], l->preps[i]->ud);
    /* Any hook freed by a hook is reaped now; the sweep also catches
     * prepare hooks, which have no back pointer. */
    reap(l);

    size_t n = l->nios;
    if (n + 1 > l->cappfds) {
        l->cappfds = n + 8;
        l->pfds = ht_realloc(l->pfds, l->cappfds * sizeof *l->pfds);
    }
    l->pfds[0] = (struct pollfd){.fd = l->wake_fd, .events = POLLIN};
    for (size_t i = 0; i < n; i++) {
        struct ht_io *io = l->ios[i];
        short ev = 0;
        if (io->events & HT_LOOP_READ)
            ev |= POLLIN;
        if (io->events & HT_LOOP_WRITE)
            ev |= POLLOUT;
        /* A watcher with no events still gets ERR/HUP unless its fd is
         * hidden; a negative fd makes poll() ignore the entry. */
        l->pfds[i + 1] = (struct pollfd){.fd = ev ? io->fd : -1, .events = ev};
    }

    ht_loop_update_time(l);
    int timeout = timeout_ms;
    if (l->nheap > 0) {
        uint64_t due = l->heap[0]->due;
        int t = due <= l->now
                    ? 0
                    : (int)((due - l->now) > 86400000u ? 86400000u
                                                       : (due - l->now));
        if (timeout < 0 || t < timeout)
            timeout = t;
    }
    if (l->stop)
        timeout = 0;

    int r = poll(l->pfds, n + 1, timeout);
    if (r < 0 && errno != EINTR)
        return -errno;
    ht_loop_update_time(l);

    int ran = 0;
    if (r > 0) {
        if (l->pfds[0].revents & POLLIN) {
            uint64_t v;
            ssize_t rr = read(l->wake_fd, &v, sizeof v);
            (void)rr;
            if (l->wake_cb) {
                l->wake_cb(l, l->wake_ud);
                ran++;
            }
        }
        /* Only the first n watchers were polled; ones added by callbacks
         * wait for the next iteration. */
        for (size_t i = 0; i < n; i++) {
            short re = l->pfds[i + 1].revents;
            if (!re)
                continue;
            struct ht_io *io = l->ios[i];
            if (io->dead || !io->cb)
                continue;
            unsigned ev = 0;
            if (re & POLLIN)
                ev |= HT_LOOP_READ;
            if (re & POLLOUT)
                ev |= HT_LOOP_WRITE;
            if (re & (POLLERR | POLLHUP | POLLNVAL))
                ev |= HT_LOOP_ERROR;
            io->cb(io, io->fd, ev, io->ud);
            ran++;
        }
    }
    ran += run_timers(l);
    if (l->reap)
        reap(l);
    return ran;
}

int ht_loop_run(struct ht_loop *l)
{
    l->stop = false;
    while (!l->stop) {
        int r = ht_loop_run_once(l, -1);
        if (r < 0)
            return r;
    }
    return HT_OK;
}
