/* gpio_hw_test.c - the gpiod backend (device-agent/hal/gpio_gpiod.c)
 * against the kernel's GPIO uAPI, inside the tests/hw QEMU guest.
 *
 * usage: gpio_hw_test CHIP SIMDIR
 *   CHIP    gpiochipN of a live gpio-sim bank with 8 lines
 *   SIMDIR  its sysfs directory (/sys/devices/platform/gpio-sim.0/gpiochipN)
 *
 * Plays the physical world through gpio-sim's sysfs: writing sim_gpioN/pull
 * drives an input, reading sim_gpioN/value shows what an output drives.
 * Cross-checks what the kernel itself reports about each line with the
 * uAPI's line-info ioctl (consumer, direction, active-low, bias), so a
 * backend that only believed its own bookkeeping would fail. Prints one
 * "ok - NAME" or "not ok - NAME: why" line per check; exits 0 when all
 * passed. Statically linked: the guest has no libc.
 */
#include "device-agent/hal/gpio.h"

#include "ht_err.h"
#include "ht_log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define CONSUMER "ht-hw-test"
#define NLINES 8
/* Generous: the guest runs under TCG on a shared machine. This bounds a
 * wait for an event that must come; nothing asserts on how fast. */
#define EVENT_WAIT_MS 5000

struct ctx {
    const char *chip;
    const char *simdir;
    int passed;
    int failed;
};

static void check(struct ctx *c, int cond, const char *name, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* One result line; the host counts these. */
static void check(struct ctx *c, int cond, const char *name, const char *fmt,
                  ...)
{
    va_list ap;

    if (cond) {
        printf("ok - %s\n", name);
        c->passed++;
    } else {
        printf("not ok - %s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        c->failed++;
    }
    fflush(stdout);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* sim_gpioN/ATTR of the simulated chip: the "outside world" side. */
static int sim_read(const struct ctx *c, unsigned line, const char *attr,
                    char *buf, size_t n)
{
    char p[512];
    FILE *f;

    snprintf(p, sizeof(p), "%s/sim_gpio%u/%s", c->simdir, line, attr);
    buf[0] = '\0';
    if (!(f = fopen(p, "r")))
        return -errno;
    if (!fgets(buf, (int)n, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static int sim_pull(const struct ctx *c, unsigned line, int up)
{
    char p[512];
    int fd, err = 0;
    const char *v = up ? "pull-up" : "pull-down";

    snprintf(p, sizeof(p), "%s/sim_gpio%u/pull", c->simdir, line);
    if ((fd = open(p, O_WRONLY)) < 0)
        return -errno;
    if (write(fd, v, strlen(v)) != (ssize_t)strlen(v))
        err = -errno;
    close(fd);
    return err;
}

/* The simulated physical level of a line: 0, 1 or -1 on error. */
static int sim_value(const struct ctx *c, unsigned line)
{
    char b[16];

    if (sim_read(c, line, "value", b, sizeof(b)) < 0)
        return -1;
    return strcmp(b, "1") == 0 ? 1 : strcmp(b, "0") == 0 ? 0 : -1;
}

/* What the kernel says about a line (uAPI v1 line info). */
static int line_info(const struct ctx *c, unsigned line,
                     struct gpioline_info *info)
{
    char p[64];
    int fd, err = 0;

    snprintf(p, sizeof(p), "/dev/%s", c->chip);
    memset(info, 0, sizeof(*info));
    info->line_offset = line;
    if ((fd = open(p, O_RDWR | O_CLOEXEC)) < 0)
        return -errno;
    if (ioctl(fd, GPIO_GET_LINEINFO_IOCTL, info) < 0)
        err = -errno;
    close(fd);
    return err;
}

/* Wait until the event fd is readable, then read one event. */
static int wait_event(struct ht_gpio *g, unsigned line,
                      struct ht_gpio_event *ev)
{
    struct pollfd pfd = {.fd = ht_gpio_event_fd(g, line), .events = POLLIN};
    int r = poll(&pfd, 1, EVENT_WAIT_MS);

    if (r < 0)
        return -errno;
    if (r == 0)
        return HT_ETIMEDOUT;
    return ht_gpio_read_event(g, line, ev);
}

static void test_open(struct ctx *c)
{
    struct ht_gpio *g = NULL;
    char path[64];
    int rc;

    rc = ht_gpio_new_gpiod(c->chip, CONSUMER, &g);
    check(c, rc == HT_OK && g, "open chip by name", "rc=%d %s", rc,
          ht_strerror(rc));
    ht_gpio_free(g);

    snprintf(path, sizeof(path), "/dev/%s", c->chip);
    g = NULL;
    rc = ht_gpio_new_gpiod(path, CONSUMER, &g);
    check(c, rc == HT_OK && g, "open chip by path", "rc=%d %s", rc,
          ht_strerror(rc));
    ht_gpio_free(g);

    g = (struct ht_gpio *)1;
    rc = ht_gpio_new_gpiod("gpiochip99", CONSUMER, &g);
    check(c, rc == -ENOENT && g == NULL, "missing chip is -ENOENT",
          "rc=%d (%s) out=%p", rc, ht_strerror(rc), (void *)g);
}

/* Inputs without events: bias and active-low reach the kernel (gpio-sim
 * applies a requested bias as its pull, so the level follows it). */
static void test_input_flags(struct ctx *c, struct ht_gpio *g)
{
    struct gpioline_info info;
    char pull[32];
    int rc, v = -1;

    rc = ht_gpio_request_input(g, 1, HT_GPIO_EDGE_NONE, HT_GPIO_BIAS_PULL_UP);
    check(c, rc == HT_OK, "request input pull-up", "rc=%d %s", rc,
          ht_strerror(rc));
    rc = ht_gpio_get(g, 1, &v);
    check(c, rc == HT_OK && v == 1, "pull-up input reads 1", "rc=%d v=%d", rc,
          v);
    sim_read(c, 1, "pull", pull, sizeof(pull));
    check(c, strcmp(pull, "pull-up") == 0, "kernel applied pull-up bias",
          "sim pull=%s", pull);
    rc = line_info(c, 1, &info);
    check(c,
          rc == 0 && (info.flags & GPIOLINE_FLAG_KERNEL) &&
              !(info.flags & GPIOLINE_FLAG_IS_OUT) &&
              (info.flags & GPIOLINE_FLAG_BIAS_PULL_UP) &&
              !(info.flags & GPIOLINE_FLAG_ACTIVE_LOW) &&
              strcmp(info.consumer, CONSUMER) == 0,
          "line info: used, input, pull-up, consumer",
          "rc=%d flags=0x%x consumer='%s'", rc, info.flags, info.consumer);
    check(c, ht_gpio_event_fd(g, 1) == -1, "no event fd without edges", "fd=%d",
          ht_gpio_event_fd(g, 1));

    /* Requesting again reconfigures the same line (release + request). */
    rc = ht_gpio_request_input(g, 1, HT_GPIO_EDGE_NONE, HT_GPIO_BIAS_PULL_DOWN);
    v = -1;
    if (rc == HT_OK)
        rc = ht_gpio_get(g, 1, &v);
    check(c, rc == HT_OK && v == 0, "re-request pull-down reads 0",
          "rc=%d v=%d", rc, v);

    rc = ht_gpio_request_input(g, 1, HT_GPIO_EDGE_NONE,
                               HT_GPIO_ACTIVE_LOW | HT_GPIO_BIAS_PULL_UP);
    v = -1;
    if (rc == HT_OK)
        rc = ht_gpio_get(g, 1, &v);
    check(c, rc == HT_OK && v == 0, "active-low pull-up reads 0", "rc=%d v=%d",
          rc, v);
    rc = line_info(c, 1, &info);
    check(c,
          rc == 0 && (info.flags & GPIOLINE_FLAG_ACTIVE_LOW) &&
              (info.flags & GPIOLINE_FLAG_BIAS_PULL_UP),
          "line info: active-low", "rc=%d flags=0x%x", rc, info.flags);
    /* The world pulls the line low: active-low reads 1. */
    rc = sim_pull(c, 1, 0);
    v = -1;
    if (rc == 0)
        rc = ht_gpio_get(g, 1, &v);
    check(c, rc == HT_OK && v == 1, "active-low input driven low reads 1",
          "rc=%d v=%d", rc, v);

    rc = ht_gpio_request_input(g, 2, HT_GPIO_EDGE_NONE,
                               HT_GPIO_BIAS_PULL_UP | HT_GPIO_BIAS_PULL_DOWN);
    check(c, rc == HT_EINVAL, "two bias flags refused", "rc=%d %s", rc,
          ht_strerror(rc));
    rc = ht_gpio_request_input(g, 2, HT_GPIO_EDGE_NONE, HT_GPIO_BIAS_DISABLE);
    check(c, rc == HT_OK, "bias disable accepted", "rc=%d %s", rc,
          ht_strerror(rc));
    rc = line_info(c, 2, &info);
    check(c, rc == 0 && (info.flags & GPIOLINE_FLAG_BIAS_DISABLE),
          "line info: bias disabled", "rc=%d flags=0x%x", rc, info.flags);
}

/* Both edges through event_fd + poll + read_event, with kernel
 * timestamps on CLOCK_MONOTONIC between the moments around the pull. */
static void test_events_both(struct ctx *c, struct ht_gpio *g)
{
    struct ht_gpio_event ev;
    uint64_t t0, t1, last = 0;
    int rc, fd, ok_all = 1;
    char why[160] = "";

    rc = sim_pull(c, 3, 0);
    rc = rc ? rc
            : ht_gpio_request_input(g, 3, HT_GPIO_EDGE_BOTH,
                                    HT_GPIO_BIAS_PULL_DOWN);
    fd = ht_gpio_event_fd(g, 3);
    check(c, rc == HT_OK && fd >= 0, "request both edges gives an event fd",
          "rc=%d fd=%d", rc, fd);
    if (fd < 0)
        return;
    {
        int flags = fcntl(fd, F_GETFL);
        check(c, flags >= 0 && (flags & O_NONBLOCK), "event fd non-blocking",
              "flags=0x%x", flags);
    }
    rc = ht_gpio_read_event(g, 3, &ev);
    check(c, rc == HT_EAGAIN, "no event pending -> HT_EAGAIN", "rc=%d %s", rc,
          ht_strerror(rc));

    for (int i = 0; i < 6; i++) {
        int up = i % 2 == 0;

        t0 = mono_ns();
        rc = sim_pull(c, 3, up);
        if (rc == 0)
            rc = wait_event(g, 3, &ev);
        t1 = mono_ns();
        if (rc != HT_OK || ev.line != 3 || ev.rising != up || ev.ts_ns < t0 ||
            ev.ts_ns > t1 || ev.ts_ns <= last) {
            snprintf(why, sizeof(why),
                     "edge %d: rc=%d (%s) line=%u rising=%d want %d "
                     "ts=%llu not in [%llu,%llu] or <= %llu",
                     i, rc, ht_strerror(rc), ev.line, ev.rising, up,
                     (unsigned long long)ev.ts_ns, (unsigned long long)t0,
                     (unsigned long long)t1, (unsigned long long)last);
            ok_all = 0;
            break;
        }
        last = ev.ts_ns;
    }
    check(c, ok_all, "both edges: 6 events, right type, monotonic kernel ts",
          "%s", why);
    rc = ht_gpio_read_event(g, 3, &ev);
    check(c, rc == HT_EAGAIN, "queue empty after the events", "rc=%d %s", rc,
          ht_strerror(rc));
    {
        int v = -1;
        rc = ht_gpio_get(g, 3, &v);
        check(c, rc == HT_OK && v == 0, "event line readable with get",
              "rc=%d v=%d", rc, v);
    }
}

/* One-edge requests report only that edge. Checked by order, not by
 * time: after up, down, up the queue holds exactly two rising events. */
static void test_events_one_edge(struct ctx *c, struct ht_gpio *g)
{
    struct ht_gpio_event ev1, ev2, ev3;
    int rc, r1, r2, r3;

    sim_pull(c, 4, 0);
    rc = ht_gpio_request_input(g, 4, HT_GPIO_EDGE_RISING, 0);
    check(c, rc == HT_OK, "request rising edge", "rc=%d %s", rc,
          ht_strerror(rc));
    sim_pull(c, 4, 1);
    sim_pull(c, 4, 0);
    sim_pull(c, 4, 1);
    r1 = wait_event(g, 4, &ev1);
    r2 = wait_event(g, 4, &ev2);
    r3 = ht_gpio_read_event(g, 4, &ev3);
    check(c,
          r1 == HT_OK && ev1.rising && r2 == HT_OK && ev2.rising &&
              ev2.ts_ns > ev1.ts_ns && r3 == HT_EAGAIN,
          "rising only: up,down,up -> 2 rising events",
          "r1=%d rising=%d r2=%d rising=%d r3=%d", r1, ev1.rising, r2,
          ev2.rising, r3);

    /* Active-low falling: the world pulling the line high is a logical
     * falling edge; pulling it low (logical rising) is not reported. */
    sim_pull(c, 6, 0);
    rc = ht_gpio_request_input(g, 6, HT_GPIO_EDGE_FALLING, HT_GPIO_ACTIVE_LOW);
    check(c, rc == HT_OK, "request active-low falling edge", "rc=%d %s", rc,
          ht_strerror(rc));
    sim_pull(c, 6, 1);
    sim_pull(c, 6, 0);
    sim_pull(c, 6, 1);
    r1 = wait_event(g, 6, &ev1);
    r2 = wait_event(g, 6, &ev2);
    r3 = ht_gpio_read_event(g, 6, &ev3);
    check(c,
          r1 == HT_OK && !ev1.rising && r2 == HT_OK && !ev2.rising &&
              r3 == HT_EAGAIN,
          "active-low falling: high,low,high -> 2 falling events",
          "r1=%d rising=%d r2=%d rising=%d r3=%d", r1, ev1.rising, r2,
          ev2.rising, r3);
}

/* Outputs: what we set is what the simulated pin drives. */
static void test_outputs(struct ctx *c, struct ht_gpio *g)
{
    struct gpioline_info info;
    struct ht_gpio_event ev;
    int rc, v = -1, seq_ok = 1;

    rc = ht_gpio_request_output(g, 5, 1, 0);
    check(c, rc == HT_OK && sim_value(c, 5) == 1, "output initial 1 drives 1",
          "rc=%d sim=%d", rc, sim_value(c, 5));
    rc = line_info(c, 5, &info);
    check(c,
          rc == 0 && (info.flags & GPIOLINE_FLAG_IS_OUT) &&
              strcmp(info.consumer, CONSUMER) == 0 &&
              strcmp(info.name, "relay_out") == 0,
          "line info: output, consumer, name", "rc=%d flags=0x%x '%s' '%s'", rc,
          info.flags, info.consumer, info.name);
    for (int i = 0; i < 4; i++) {
        int want = i % 2;
        rc = ht_gpio_set(g, 5, want);
        if (rc != HT_OK || sim_value(c, 5) != want)
            seq_ok = 0;
    }
    check(c, seq_ok, "set 0,1,0,1 drives the pin each time", "sim=%d",
          sim_value(c, 5));
    rc = ht_gpio_get(g, 5, &v);
    check(c, rc == HT_OK && v == 1, "get on output reads back 1", "rc=%d v=%d",
          rc, v);
    /* The world pulling an actively driven output changes nothing. */
    sim_pull(c, 5, 0);
    check(c, sim_value(c, 5) == 1, "driven output ignores the world's pull",
          "sim=%d", sim_value(c, 5));

    rc = ht_gpio_request_output(g, 7, 1, HT_GPIO_ACTIVE_LOW);
    check(c, rc == HT_OK && sim_value(c, 7) == 0,
          "active-low output initial 1 drives 0", "rc=%d sim=%d", rc,
          sim_value(c, 7));
    rc = ht_gpio_set(g, 7, 0);
    check(c, rc == HT_OK && sim_value(c, 7) == 1,
          "active-low output set 0 drives 1", "rc=%d sim=%d", rc,
          sim_value(c, 7));

    rc = ht_gpio_set(g, 1, 1);
    check(c, rc == HT_ESTATE, "set on an input is HT_ESTATE", "rc=%d", rc);
    rc = ht_gpio_read_event(g, 5, &ev);
    check(c, rc == HT_ESTATE, "read_event on an output is HT_ESTATE", "rc=%d",
          rc);
    check(c, ht_gpio_event_fd(g, 5) == -1, "output has no event fd", "fd=%d",
          ht_gpio_event_fd(g, 5));
    rc = ht_gpio_get(g, 0, &v);
    check(c, rc == HT_ESTATE, "get on an unrequested line is HT_ESTATE",
          "rc=%d", rc);
    rc = ht_gpio_request_output(g, NLINES, 0, 0);
    check(c, rc == HT_EINVAL, "line beyond the chip is HT_EINVAL", "rc=%d", rc);
    check(c, ht_gpio_event_fd(g, 999) == -1, "event_fd of a bad line is -1",
          "fd=%d", ht_gpio_event_fd(g, 999));
}

/* A line held by one consumer is busy for another; free gives every line
 * back to the kernel. */
static void test_busy_and_free(struct ctx *c, struct ht_gpio *g)
{
    struct gpioline_info info;
    struct ht_gpio *g2 = NULL;
    int rc, used = 0;

    rc = ht_gpio_new_gpiod(c->chip, "ht-hw-other", &g2);
    check(c, rc == HT_OK, "second instance opens", "rc=%d", rc);
    if (rc != HT_OK)
        return;
    rc = ht_gpio_request_output(g2, 5, 0, 0);
    check(c, rc == -EBUSY, "line held elsewhere is -EBUSY", "rc=%d (%s)", rc,
          ht_strerror(rc));
    check(c, sim_value(c, 5) == 1, "failed request left the pin alone",
          "sim=%d", sim_value(c, 5));

    ht_gpio_free(g);
    for (unsigned i = 0; i < NLINES; i++)
        if (line_info(c, i, &info) == 0 && (info.flags & GPIOLINE_FLAG_KERNEL))
            used++;
    check(c, used == 0, "free releases every line", "%d still used", used);
    rc = ht_gpio_request_output(g2, 5, 0, 0);
    check(c, rc == HT_OK && sim_value(c, 5) == 0,
          "released line can be requested again", "rc=%d sim=%d", rc,
          sim_value(c, 5));
    rc = line_info(c, 5, &info);
    check(c, rc == 0 && strcmp(info.consumer, "ht-hw-other") == 0,
          "new consumer shown", "consumer='%s'", info.consumer);
    ht_gpio_free(g2);
}

int main(int argc, char **argv)
{
    struct ctx c = {0};
    struct ht_gpio *g = NULL;
    int rc;

    if (argc != 3) {
        fprintf(stderr, "usage: gpio_hw_test CHIP SIMDIR\n");
        return 2;
    }
    c.chip = argv[1];
    c.simdir = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Errors the backend logs for the refusals we provoke are expected;
     * they go to stderr (the same console), marked by ht_log. */
    ht_log_set_level(LOG_ERR);

    test_open(&c);
    rc = ht_gpio_new_gpiod(c.chip, CONSUMER, &g);
    if (rc != HT_OK) {
        printf("not ok - open %s: %s\n", c.chip, ht_strerror(rc));
        return 1;
    }
    test_input_flags(&c, g);
    test_events_both(&c, g);
    test_events_one_edge(&c, g);
    test_outputs(&c, g);
    test_busy_and_free(&c, g); /* frees g */
    ht_log_shutdown();
    printf("gpio_hw_test: %d passed, %d failed\n", c.passed, c.failed);
    return c.failed ? 1 : 0;
}
