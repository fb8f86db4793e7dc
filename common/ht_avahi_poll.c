/* ht_avahi_poll.c - AvahiPoll on ht_loop: watches -> ht_io, timeouts ->
 * ht_timer. Avahi may free a watch from inside its own callback; ht_loop
 * defers the release, so that is safe. */
#include "ht_avahi_poll.h"

#include "ht_mem.h"

#include <stdlib.h>
#include <sys/time.h>

struct ht_avahi_poll {
    AvahiPoll api; /* first: Avahi hands &api back to us as userdata owner */
    struct ht_loop *loop;
};

struct AvahiWatch {
    struct ht_avahi_poll *p;
    struct ht_io *io;
    AvahiWatchCallback cb;
    void *ud;
    AvahiWatchEvent last;
};

struct AvahiTimeout {
    struct ht_avahi_poll *p;
    struct ht_timer *t;
    AvahiTimeoutCallback cb;
    void *ud;
};

static unsigned to_loop(AvahiWatchEvent e)
{
    unsigned ev = 0;
    if (e & AVAHI_WATCH_IN)
        ev |= HT_LOOP_READ;
    if (e & AVAHI_WATCH_OUT)
        ev |= HT_LOOP_WRITE;
    return ev;
}

static void watch_io(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    AvahiWatch *w = ud;
    AvahiWatchEvent e = 0;
    if (ev & HT_LOOP_READ)
        e |= AVAHI_WATCH_IN;
    if (ev & HT_LOOP_WRITE)
        e |= AVAHI_WATCH_OUT;
    if (ev & HT_LOOP_ERROR)
        e |= AVAHI_WATCH_ERR | AVAHI_WATCH_HUP;
    w->last = e;
    w->cb(w, fd, e, w->ud);
    /* w may be freed now; nothing touches it after the callback. */
}

static AvahiWatch *watch_new(const AvahiPoll *api, int fd,
                             AvahiWatchEvent event, AvahiWatchCallback cb,
                             void *ud)
{
    struct ht_avahi_poll *p = api->userdata;
    AvahiWatch *w = ht_calloc(1, sizeof *w);
    w->p = p;
    w->cb = cb;
    w->ud = ud;
    w->io = ht_io_new(p->loop, fd, to_loop(event), watch_io, w);
    return w;
}

static void watch_update(AvahiWatch *w, AvahiWatchEvent event)
{
    ht_io_set(w->io, to_loop(event));
}

static AvahiWatchEvent watch_get_events(AvahiWatch *w)
{
    return w->last;
}

static void watch_free(AvahiWatch *w)
{
    ht_io_free(w->io);
    free(w);
}

static void timeout_fire(struct ht_timer *t, void *ud)
{
    (void)t;
    AvahiTimeout *to = ud;
    to->cb(to, to->ud);
}

/* Avahi gives absolute wall-clock times; the loop wants a delay. */
static void arm(AvahiTimeout *to, const struct timeval *tv)
{
    if (!tv) {
        ht_timer_stop(to->t);
        return;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    long long ms = (long long)(tv->tv_sec - now.tv_sec) * 1000 +
                   (tv->tv_usec - now.tv_usec) / 1000;
    ht_timer_start(to->t, ms > 0 ? (uint64_t)ms : 0, 0);
}

static AvahiTimeout *timeout_new(const AvahiPoll *api, const struct timeval *tv,
                                 AvahiTimeoutCallback cb, void *ud)
{
    struct ht_avahi_poll *p = api->userdata;
    AvahiTimeout *to = ht_calloc(1, sizeof *to);
    to->p = p;
    to->cb = cb;
    to->ud = ud;
    to->t = ht_timer_new(p->loop, timeout_fire, to);
    arm(to, tv);
    return to;
}

static void timeout_update(AvahiTimeout *to, const struct timeval *tv)
{
    arm(to, tv);
}

static void timeout_free(AvahiTimeout *to)
{
    ht_timer_free(to->t);
    free(to);
}

struct ht_avahi_poll *ht_avahi_poll_new(struct ht_loop *l)
{
    struct ht_avahi_poll *p = ht_calloc(1, sizeof *p);
    p->loop = l;
    p->api.userdata = p;
    p->api.watch_new = watch_new;
    p->api.watch_update = watch_update;
    p->api.watch_get_events = watch_get_events;
    p->api.watch_free = watch_free;
    p->api.timeout_new = timeout_new;
    p->api.timeout_update = timeout_update;
    p->api.timeout_free = timeout_free;
    return p;
}

const AvahiPoll *ht_avahi_poll_get(struct ht_avahi_poll *p)
{
    return &p->api;
}

void ht_avahi_poll_free(struct ht_avahi_poll *p)
{
    free(p);
}
