/* ht_conf.h - table-driven JSON configuration.
 *
 * One table of {key, type, offset, default, min, max, reloadable, help}
 * drives defaults, validation, --help text and dumps. Keys are dotted paths
 * into the JSON file ("mqtt.port" is {"mqtt":{"port":...}}). Errors name
 * file:line:col, found with ht_conf_locate() since jansson keeps no positions
 * for values it has parsed.
 */
#ifndef HT_CONF_H
#define HT_CONF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum ht_conf_type { HT_CONF_INT, HT_CONF_DOUBLE, HT_CONF_BOOL, HT_CONF_STR };

struct ht_conf_key {
    const char *key; /* dotted path */
    enum ht_conf_type type;
    size_t offset;   /* into the config struct: int, double, bool, char * */
    const char *def; /* default, as text ("" or NULL = none for strings) */
    double min, max; /* for numbers; min == max means unbounded */
    bool reloadable; /* may change on SIGHUP */
    const char *help;
};

/* Set every key to its default (strings become new copies or NULL). */
void ht_conf_defaults(const struct ht_conf_key *tab, void *cfg);
/* Free the strings the table owns in cfg. */
void ht_conf_clear(const struct ht_conf_key *tab, void *cfg);

/* Load path over cfg. Top-level objects listed in sections (NULL-terminated,
 * may be NULL) are not checked against the table; the parsed document is
 * returned in *doc (new reference, may be NULL to discard) so the caller can
 * read them. Unknown keys, wrong types and out-of-range values are errors:
 * err gets "path:line:col: message". Returns HT_OK, HT_EPARSE, HT_EINVAL,
 * HT_ERANGE or -errno. */
int ht_conf_load(const struct ht_conf_key *tab, void *cfg, const char *path,
                 const char *const *sections, json_t **doc, char *err,
                 size_t errlen);
/* Set one key from text (command line). err gets "key: message". */
int ht_conf_set(const struct ht_conf_key *tab, void *cfg, const char *key,
                const char *value, char *err, size_t errlen);
/* Print the table as --help lines ("  key  help (default: X)"; an empty
 * default is "empty"; a help that says "(default: ...)" itself gets no
 * second one). */
void ht_conf_print_help(const struct ht_conf_key *tab, FILE *out);
/* The current values as a new JSON object (nested by dotted path). */
json_t *ht_conf_dump(const struct ht_conf_key *tab, const void *cfg);

/* Find the position of the value at JSON pointer ptr ("/a/0/b") in text.
 * Returns HT_OK and 1-based line/col, or HT_ENOENT. */
int ht_conf_locate(const char *text, const char *ptr, int *line, int *col);
/* Format "file:line:col: msg" for the value at ptr inside the file at path
 * (re-read from disk; falls back to "file: msg"). */
void ht_conf_errorf(char *err, size_t errlen, const char *path, const char *ptr,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
