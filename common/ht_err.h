/* ht_err.h - error codes shared by every Holotwin module.
 *
 * A function that can fail returns int: HT_OK (0) on success, a negative
 * HT_E* code or a negative errno on failure. ht_strerror() gives the text.
 */
#ifndef HT_ERR_H
#define HT_ERR_H

#define HT_OK 0

/* Our own codes sit below -1000 so they never collide with -errno. */
enum ht_err {
    HT_EINVAL = -1001,    /* invalid argument or input */
    HT_ENOENT = -1002,    /* no such thing (device, twin, key, ...) */
    HT_EEXIST = -1003,    /* already exists */
    HT_EPARSE = -1004,    /* malformed JSON or syntax */
    HT_ERANGE = -1005,    /* value out of range */
    HT_ETYPE = -1006,     /* wrong type */
    HT_ERDONLY = -1007,   /* read-only */
    HT_EIO = -1008,       /* I/O or hardware error */
    HT_EMQTT = -1009,     /* libmosquitto error (logged where it happened) */
    HT_EDB = -1010,       /* SQLite error (logged where it happened) */
    HT_EHTTP = -1011,     /* libmicrohttpd error */
    HT_EAVAHI = -1012,    /* Avahi error */
    HT_ETOOBIG = -1013,   /* input larger than its limit */
    HT_EAGAIN = -1014,    /* try again later (not connected, busy) */
    HT_ETIMEDOUT = -1015, /* no answer in time */
    HT_EPERM = -1016,     /* not allowed */
    HT_ESTATE = -1017,    /* wrong state for this operation */
};

/* Text for an HT_E* code or a negative errno. Returns a static string
 * (borrowed, never NULL). Thread-safe. */
const char *ht_strerror(int err);

#endif
