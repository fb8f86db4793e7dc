/* ht_log.h - leveled logging with a replaceable, locked sink.
 *
 * The level and sink are process-wide (like syslog itself): main() sets them
 * once; every module and the HTTP thread log through ht_log(). Levels are
 * the syslog priorities (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG).
 */
#ifndef HT_LOG_H
#define HT_LOG_H

#include <stdarg.h>
#include <syslog.h>

struct ht_log_sink {
    void (*fn)(void *ctx, int level, const char *module, const char *msg);
    void *ctx;
    void (*free)(void *ctx);
};

/* Current threshold; read by the macro so arguments of a message that will
 * not be shown are never evaluated. */
int ht_log_level(void);
void ht_log_set_level(int level);
/* Parse "error|warning|notice|info|debug" (or a number). -1 if unknown. */
int ht_log_level_parse(const char *s);

/* Replace the sink (copied; the old sink's free is called). NULL restores
 * the default: stderr, with a timestamp and level name per line, or, when
 * stderr is the systemd journal (JOURNAL_STREAM matches it, or INVOCATION_ID
 * is set and stderr is not a terminal), "<N>module: message" lines that
 * journald ranks by priority N and stamps itself. The choice is made at the
 * first message after this call. Call from main only. */
void ht_log_set_sink(const struct ht_log_sink *sink);
/* The syslog sink for production (ident borrowed for the process life). */
void ht_log_use_syslog(const char *ident);
/* Release the sink at exit. */
void ht_log_shutdown(void);

void ht_log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ht_log_vwrite(int level, const char *module, const char *fmt, va_list ap);

#define ht_log(level, module, ...)                                             \
    do {                                                                       \
        if ((level) <= ht_log_level())                                         \
            ht_log_write((level), (module), __VA_ARGS__);                      \
    } while (0)

#endif
