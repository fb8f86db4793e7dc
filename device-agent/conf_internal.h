/* conf_internal.h - helpers of the configuration parser shared between
 * config.c and the capability kinds (kind_*.c), which parse their own
 * keys. Every helper reports "file:line:col: message" through the context
 * and returns HT_OK or HT_EINVAL. Loop thread or start-up only.
 */
#ifndef HT_AGENT_CONF_INTERNAL_H
#define HT_AGENT_CONF_INTERNAL_H

#include "agent.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Where errors go: the file (NULL for the built-in board) and the caller's
 * buffer (borrowed for the parse). */
struct conf_ctx {
    const char *path;
    char *err;
    size_t errlen;
};

/* Format an error at JSON pointer ptr; returns HT_EINVAL. */
int conf__err(struct conf_ctx *px, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Optional number o[key] in [lo, hi] into *out (and *has = true); HT_OK
 * when absent. base is the object's JSON pointer. */
int conf__num(struct conf_ctx *px, const json_t *o, const char *base,
              const char *key, double lo, double hi, bool integer, bool *has,
              double *out);
/* Optional boolean o[key] into *out (and *has = true). */
int conf__bool(struct conf_ctx *px, const json_t *o, const char *base,
               const char *key, bool *has, bool *out);
/* A GPIO line number 0..1023 (v borrowed) at ptr. */
int conf__line(struct conf_ctx *px, const json_t *v, const char *ptr,
               unsigned *out);

#endif
