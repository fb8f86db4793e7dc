/* ht_log.c - logging: a level, a locked sink, stderr and syslog sinks.
 *
 * The only mutable file-scope state in common/: the log configuration is
 * per process by nature, and the MHD thread logs too, hence the mutex. */
#include "ht_log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static atomic_int g_level = LOG_INFO;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ht_log_sink g_sink;
/* Default sink's style: -1 not decided yet, 0 terminal, 1 journal. */
static int g_journal = -1;

/* journald stamps and ranks each line itself: under systemd a line gets a
 * "<N>" priority prefix (sd-daemon(3)) and no timestamp of its own. stderr
 * is the journal when JOURNAL_STREAM names its device:inode; a service
 * whose stderr goes elsewhere (a file, a terminal) keeps the plain format.
 * Without JOURNAL_STREAM, INVOCATION_ID (systemd started us) and a stderr
 * that is not a terminal also count. JOURNAL_STREAM decides when present:
 * a shell in a terminal that systemd started inherits both variables, and
 * a daemon it starts with stderr in a file must keep the plain format. */
static int detect_journal(void)
{
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0)
        return 0;
    const char *js = getenv("JOURNAL_STREAM");
    if (js && *js) {
        unsigned long long dev, ino;
        if (sscanf(js, "%llu:%llu", &dev, &ino) == 2)
            return (unsigned long long)st.st_dev == dev &&
                   (unsigned long long)st.st_ino == ino;
    }
    const char *inv = getenv("INVOCATION_ID");
    return inv && *inv && !isatty(STDERR_FILENO);
}

static const char *level_name(int level)
{
    static const char *const names[] = {"emerg", "alert",  "crit", "error",
                                        "warn",  "notice", "info", "debug"};
    return (level >= 0 && level <= 7) ? names[level] : "?";
}

static void stderr_sink(void *ctx, int level, const char *module,
                        const char *msg)
{
    (void)ctx;
    if (g_journal < 0)
        g_journal = detect_journal();
    if (g_journal) {
        fprintf(stderr, "<%d>%s: %s\n", level & 7, module, msg);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %-8s %s\n", tm.tm_hour,
            tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_name(level),
            module, msg);
}

static void syslog_sink(void *ctx, int level, const char *module,
                        const char *msg)
{
    (void)ctx;
    syslog(level, "%s: %s", module, msg);
}

int ht_log_level(void)
{
    return atomic_load_explicit(&g_level, memory_order_relaxed);
}

void ht_log_set_level(int level)
{
    atomic_store(&g_level, level);
}

int ht_log_level_parse(const char *s)
{
    static const struct {
        const char *n;
        int l;
    } t[] = {
        {"error", LOG_ERR},    {"err", LOG_ERR},       {"warning", LOG_WARNING},
        {"warn", LOG_WARNING}, {"notice", LOG_NOTICE}, {"info", LOG_INFO},
        {"debug", LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(s, t[i].n))
            return t[i].l;
    if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
        return s[0] - '0';
    return -1;
}

void ht_log_set_sink(const struct ht_log_sink *sink)
{
    pthread_mutex_lock(&g_lock);
    if (g_sink.free)
        g_sink.free(g_sink.ctx);
    if (sink)
        g_sink = *sink;
    else
        memset(&g_sink, 0, sizeof g_sink);
    g_journal = -1; /* the default sink looks at stderr again */
    pthread_mutex_unlock(&g_lock);
}

void ht_log_use_syslog(const char *ident)
{
    openlog(ident, LOG_PID, LOG_DAEMON);
    struct ht_log_sink s = {syslog_sink, NULL, NULL};
    ht_log_set_sink(&s);
}

void ht_log_shutdown(void)
{
    ht_log_set_sink(NULL);
}

void ht_log_vwrite(int level, const char *module, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    pthread_mutex_lock(&g_lock);
    if (g_sink.fn)
        g_sink.fn(g_sink.ctx, level, module, msg);
    else
        stderr_sink(NULL, level, module, msg);
    pthread_mutex_unlock(&g_lock);
}

void ht_log_write(int level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ht_log_vwrite(level, module, fmt, ap);
    va_end(ap);
}
