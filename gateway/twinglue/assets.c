/* assets.c - binary assets of twins: glTF/GLB models, marker images and
 * tracker databases the HMD needs to recognise and draw a machine.
 *
 * Blobs are stored content-addressed as DATA_DIR/assets/<sha256> (one copy
 * however many twins use it); each twin has an index
 * DATA_DIR/assets/twins/<twin>.json mapping asset names to
 * {"sha256","type","size","updated"}. Both are written atomically (temp
 * file + fsync + rename) before a client is answered. All of it runs on
 * the HTTP thread (file I/O never blocks the loop), serialised by
 * asset_mu; the loop only calls gw__assets_remove_twin when a twin is
 * deleted.
 */
#include "gateway/twinglue/twinglue.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_sha256.h"
#include "ht_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MOD "assets"
#define INDEX_MAX (4 << 20)

/* A string member of an index entry, never NULL. */
const char *gw__asset_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

int gw__assets_init(struct ht_gw *g, char *err, size_t errlen)
{
    struct gw_twins *tw = g->twins;
    tw->asset_dir = ht_asprintf("%s/assets", g->conf->data_dir);
    char *idx = ht_asprintf("%s/twins", tw->asset_dir);
    int rc = ht_mkdir_p(idx, 0700);
    if (rc)
        snprintf(err, errlen, "cannot create %s: %s", idx, ht_strerror(rc));
    free(idx);
    return rc;
}

/* Same rule as asset names in twin models: file-like, never a path. */
bool gw__asset_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 128 || s[0] == '.' || s[0] == '-' || s[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return !strstr(s, "..");
}

static char *index_path(struct gw_twins *tw, const char *twin)
{
    return ht_asprintf("%s/twins/%s.json", tw->asset_dir, twin);
}

char *gw__asset_blob_path(struct gw_twins *tw, const char *sha)
{
    return ht_asprintf("%s/%s", tw->asset_dir, sha);
}

/* The index of a twin (new object; empty when there is none). asset_mu
 * held. */
json_t *gw__asset_index_load(struct gw_twins *tw, const char *twin)
{
    char *p = index_path(tw, twin);
    char *text = NULL;
    size_t len = 0;
    json_t *idx = NULL;
    if (ht_file_read(p, INDEX_MAX, &text, &len) == HT_OK)
        idx = json_loadb(text, len, 0, NULL);
    free(text);
    free(p);
    if (!json_is_object(idx)) {
        json_decref(idx);
        idx = json_object();
    }
    return idx;
}

int gw__asset_index_save(struct gw_twins *tw, const char *twin,
                         const json_t *idx)
{
    char *p = index_path(tw, twin);
    int rc = HT_OK;
    if (json_object_size(idx) == 0) {
        if (unlink(p) && errno != ENOENT)
            rc = -errno;
    } else {
        char *text = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
        rc = ht_file_write_atomic(p, text, strlen(text), 0600);
        free(text);
    }
    if (rc)
        ht_log(LOG_ERR, MOD, "cannot write %s: %s", p, ht_strerror(rc));
    free(p);
    return rc;
}

/* Is a blob still named by some twin's index? A scan: assets change
 * rarely and there are few twins. asset_mu held. */
static bool blob_used(struct gw_twins *tw, const char *sha)
{
    char *dir = ht_asprintf("%s/twins", tw->asset_dir);
    DIR *d = opendir(dir);
    bool used = false;
    struct dirent *de;
    while (d && !used && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 ||
            strcmp(de->d_name + l - 5, ".json"))
            continue;
        char *p = ht_asprintf("%s/%s", dir, de->d_name);
        char *text = NULL;
        if (ht_file_read(p, INDEX_MAX, &text, NULL) == HT_OK)
            used = strstr(text, sha) != NULL;
        free(text);
        free(p);
    }
    if (d)
        closedir(d);
    free(dir);
    return used;
}

void gw__asset_blob_release(struct gw_twins *tw, const char *sha)
{
    if (!sha || blob_used(tw, sha))
        return;
    char *p = gw__asset_blob_path(tw, sha);
    if (unlink(p) && errno != ENOENT)
        ht_log(LOG_WARNING, MOD, "cannot remove %s: %s", p, strerror(errno));
    free(p);
}

void gw__assets_remove_twin(struct ht_gw *g, const char *twin)
{
    struct gw_twins *tw = g->twins;
    pthread_mutex_lock(&tw->asset_mu);
    json_t *idx = gw__asset_index_load(tw, twin);
    json_t *empty = json_object();
    gw__asset_index_save(tw, twin, empty);
    json_decref(empty);
    const char *name;
    json_t *a;
    json_object_foreach(idx, name, a) gw__asset_blob_release(
        tw, json_string_value(json_object_get(a, "sha256")));
    pthread_mutex_unlock(&tw->asset_mu);
    json_decref(idx);
}
