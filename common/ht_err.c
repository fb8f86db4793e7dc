/* ht_err.c - texts for Holotwin error codes. */
#include "ht_err.h"

#include <string.h>

const char *ht_strerror(int err)
{
    switch (err) {
    case HT_OK:
        return "success";
    case HT_EINVAL:
        return "invalid argument";
    case HT_ENOENT:
        return "not found";
    case HT_EEXIST:
        return "already exists";
    case HT_EPARSE:
        return "parse error";
    case HT_ERANGE:
        return "out of range";
    case HT_ETYPE:
        return "wrong type";
    case HT_ERDONLY:
        return "read-only";
    case HT_EIO:
        return "I/O error";
    case HT_EMQTT:
        return "MQTT error";
    case HT_EDB:
        return "database error";
    case HT_EHTTP:
        return "HTTP error";
    case HT_EAVAHI:
        return "mDNS (Avahi) error";
    case HT_ETOOBIG:
        return "too large";
    case HT_EAGAIN:
        return "temporarily unavailable";
    case HT_ETIMEDOUT:
        return "timed out";
    case HT_EPERM:
        return "not permitted";
    case HT_ESTATE:
        return "wrong state";
    default:
        break;
    }
    /* strerror() may use a shared buffer for unknown values; the glibc
     * table entries for known errno values are static, which is all a
     * negative errno from our code can be. */
    if (err < 0 && err > -4096)
        return strerrordesc_np(-err) ? strerrordesc_np(-err) : "unknown error";
    return "unknown error";
}
