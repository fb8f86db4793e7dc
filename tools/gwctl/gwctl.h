/* gwctl.h - internal interface of gwctl, the technicians' CLI.
 *
 * gwctl talks only to the gateway's public HTTP API (libcurl). Subcommands
 * live in one table (main.c); each is a function taking the parsed context
 * and its own arguments and returning a documented exit code.
 */
#ifndef HT_GWCTL_H
#define HT_GWCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit codes (documented in docs/gwctl.1 and --help). */
enum {
    GW_EXIT_OK = 0,
    GW_EXIT_USAGE = 1,
    GW_EXIT_NOTFOUND = 2,
    GW_EXIT_REFUSED = 3,     /* 401/403/409 and other refusals */
    GW_EXIT_UNREACHABLE = 4, /* no connection to the gateway */
    GW_EXIT_DEVICE = 5,      /* device error or timeout (5xx, 504, 503) */
};

struct gwctl {
    const char *gateway; /* base URL, no trailing slash */
    const char *token;   /* bearer token or NULL */
    bool json;           /* --json: machine-readable output */
    bool color;          /* stdout is a TTY and NO_COLOR unset */
    long timeout_s;      /* per request */
    char *owned[4];      /* strings read from the config file */
};

struct gwctl_cmd {
    const char *name;
    int (*fn)(struct gwctl *g, int argc, char **argv);
    const char *usage; /* "devices [list|show ID|...]" */
    const char *help;  /* one line */
};

/* A response: HTTP status and body parsed as JSON when it is JSON. */
struct gw_resp {
    long status;
    json_t *json; /* new reference or NULL */
    char *body;   /* raw body (new, NUL-terminated) */
    char *ctype;  /* content type (new) or NULL */
    char *etag;   /* ETag header (new) or NULL */
};

/* Perform a request. body (borrowed) may be NULL; ctype defaults to
 * application/json when body is set. Returns GW_EXIT_OK when an HTTP answer
 * arrived (any status; inspect r->status), GW_EXIT_UNREACHABLE otherwise
 * (message printed). */
int gw_request(const struct gwctl *g, const char *method, const char *path,
               const char *body, const char *ctype, struct gw_resp *r);
void gw_resp_clear(struct gw_resp *r);
/* Map a non-2xx response to an exit code and print the problem detail as
 * one line on stderr. */
int gw_fail(const struct gwctl *g, const struct gw_resp *r, const char *what);
/* GET path and require 2xx with a JSON body; *out new reference. */
int gw_get_json(const struct gwctl *g, const char *path, json_t **out);

/* Percent-encode one path segment (new string). */
char *gw_escape(const char *s);

/* Output helpers. */
void gw_print_json(const json_t *v);
/* An aligned table: headers, then rows of ncols strings each. */
struct gw_table;
struct gw_table *gw_table_new(int ncols, const char *const *headers);
void gw_table_row(struct gw_table *t, const char *const *cells);
void gw_table_print(struct gw_table *t, FILE *out, bool color);
void gw_table_free(struct gw_table *t);
/* "2026-11-23 20:51:03" in local time for a ms timestamp ("-" when 0). */
void gw_fmt_time(long long ms, char *buf, size_t len);
/* A JSON scalar as short text (new string). */
char *gw_scalar_text(const json_t *v);

/* Subcommands (one file each or grouped). */
int gw_cmd_status(struct gwctl *g, int argc, char **argv);
int gw_cmd_devices(struct gwctl *g, int argc, char **argv);

#endif
