/* cmd_backup.c - `gwctl backup FILE`: GET /api/v1/backup (admin) saved to
 * FILE. The gateway keeps running while it copies its database; the file
 * is restored with `gatewayd --restore FILE` into an empty data dir. */
#include "gwctl.h"

#include "ht_mem.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The backup streams into FILE.part (mode 0600: it holds credentials) and
 * is renamed to FILE only once complete and answered with 200, so FILE is
 * never a truncated backup. A refusal's problem+json goes through
 * gw_fail like any other command's. */
int gw_cmd_backup(struct gwctl *g, int argc, char **argv)
{
    /* argv[0] is "backup". */
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: gwctl backup FILE\n");
        return GW_EXIT_USAGE;
    }
    const char *file = argv[1];
    char *part = ht_asprintf("%s.part", file);
    char *url = ht_asprintf("%s/api/v1/backup", g->gateway);
    char *auth =
        g->token ? ht_asprintf("Authorization: Bearer %s", g->token) : NULL;
    struct curl_slist *h = auth ? curl_slist_append(NULL, auth) : NULL;
    int ret = GW_EXIT_OK;
    CURL *c = NULL;
    FILE *out = NULL;
    int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || !(out = fdopen(fd, "wb"))) {
        fprintf(stderr, "gwctl: %s: %s\n", part, strerror(errno));
        if (fd >= 0)
            close(fd);
        ret = GW_EXIT_USAGE;
        goto out;
    }
    c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "gwctl: cannot initialise libcurl\n");
        ret = GW_EXIT_UNREACHABLE;
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, g->timeout_s > 0 ? g->timeout_s : 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (fclose(out) != 0 && cr == CURLE_OK)
        cr = CURLE_WRITE_ERROR;
    out = NULL;
    if (cr != CURLE_OK) {
        fprintf(stderr, "gwctl: backup from %s: %s\n", g->gateway,
                curl_easy_strerror(cr));
        ret = status ? GW_EXIT_DEVICE : GW_EXIT_UNREACHABLE;
        goto out;
    }
    if (status != 200) {
        /* The body is the problem+json: read it back for gw_fail. */
        struct gw_resp r = {.status = status};
        size_t len = 0;
        FILE *f = fopen(part, "rb");
        if (f) {
            r.body = ht_calloc(1, 65537);
            len = fread(r.body, 1, 65536, f);
            fclose(f);
            r.json = json_loadb(r.body, len, 0, NULL);
        }
        ret = gw_fail(g, &r, "backup");
        gw_resp_clear(&r);
        goto out;
    }
    if (rename(part, file) != 0) {
        fprintf(stderr, "gwctl: %s: %s\n", file, strerror(errno));
        ret = GW_EXIT_USAGE;
        goto out;
    }
    curl_off_t size = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &size);
    if (g->json) {
        json_t *j = json_pack("{s:s, s:I, s:b}", "file", file, "bytes",
                              (json_int_t)size, "ok", 1);
        gw_print_json(j);
        json_decref(j);
    } else {
        printf("backup of %s written to %s (%lld bytes)\n", g->gateway, file,
               (long long)size);
    }
out:
    if (out)
        fclose(out);
    if (ret != GW_EXIT_OK)
        unlink(part);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    free(auth);
    free(url);
    free(part);
    return ret;
}
