/* routes_backup.c - GET /api/v1/backup (admin): a backup of the running
 * gateway, streamed as one SQLite file (gwctl backup FILE; restored with
 * gatewayd --restore FILE). What it holds is described in store.h and
 * backup.c: the database plus the embedded broker's credentials.
 */
#include "gateway/http/http.h"
#include "gateway/security/ca.h"
#include "gateway/security/security.h"
#include "gateway/store/store.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files of the data directory that only exist there: the gateway's own
 * broker password, and the broker's password file and ACL (regenerated
 * from the database at start, carried so a restored directory is whole
 * before that); the certificate authority and the broker's TLS key and
 * certificate, without which every provisioned board (it holds the CA
 * certificate) would have to be provisioned again. The admin.token file
 * is not carried: tokens are in the database, and a backup should not
 * hold one in clear. */
static const char *const broker_files[] = {
    "broker/gateway.secret",
    "broker/passwd",
    "broker/acl",
    GW_SEC_CA_DIR "/" GW_CA_KEY,
    GW_SEC_CA_DIR "/" GW_CA_CERT,
    "broker/" GW_SEC_SERVER_KEY,
    "broker/" GW_SEC_SERVER_CERT,
};
#define NFILES (sizeof broker_files / sizeof broker_files[0])

/* The copy is written to a temporary file in the data directory (the same
 * file system as the database: no surprise about space in /tmp), opened,
 * unlinked, and streamed from the open descriptor, so nothing is left if
 * the client goes away. The HTTP thread waits for the copy: a database of
 * a few hundred MB takes seconds, and backups are rare. */
enum MHD_Result gw__route_backup(struct gw_req *r)
{
    const char *dir = r->g->conf->data_dir;
    char *path = ht_asprintf("%s/.backup-XXXXXX", dir);
    struct ht_store_file files[NFILES];
    char *paths[NFILES];
    char err[512] = "";
    enum MHD_Result ret;
    int fd = mkstemp(path);

    for (size_t i = 0; i < NFILES; i++) {
        paths[i] = ht_asprintf("%s/%s", dir, broker_files[i]);
        files[i] = (struct ht_store_file){broker_files[i], paths[i]};
    }
    if (fd < 0) {
        ret = gw__reply_problem(r, 500, "Backup failed", "temporary file");
        goto out;
    }
    close(fd);
    int rc = ht_store_backup(r->g->store, path, files, NFILES, err, sizeof err);
    fd = rc == HT_OK ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    unlink(path);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        ht_log(LOG_ERR, "backup", "backup failed: %s", err);
        if (fd >= 0)
            close(fd);
        ret = gw__reply_problem(r, 500, "Backup failed", err);
        goto out;
    }
    /* MHD closes fd with the response. */
    struct MHD_Response *resp =
        MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!resp) {
        close(fd);
        ret = MHD_NO;
        goto out;
    }
    MHD_add_response_header(resp, "Content-Type", "application/vnd.sqlite3");
    MHD_add_response_header(resp, "Content-Disposition",
                            "attachment; filename=\"holotwin-backup.db\"");
    ht_log(LOG_NOTICE, "backup", "backup of %lld bytes for %s",
           (long long)sb.st_size, r->actor);
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
out:
    for (size_t i = 0; i < NFILES; i++)
        free(paths[i]);
    free(path);
    return ret;
}
