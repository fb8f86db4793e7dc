/* test_startup_faults.c - gatewayd at start on a damaged or full data dir,
 * with real processes and files: garbage inside the database, a garbage
 * header, a zero-length database and a missing one next to its journal
 * are clear errors (never a fresh install that writes a new admin token),
 * a small full filesystem (a tmpfs in a private mount namespace) is a
 * clear error, not a SIGBUS, and so is a missing broker binary. */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 22);
    size_t n = fread(buf, 1, (1 << 22) - 1, f);
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

/* Run gatewayd on data until it exits (or timeout_ms); returns its wait
 * status as ht_it_run does (exit code, -1 on timeout or signal) and its
 * stderr in *err_out (new). */
static int run_gw(struct ht_it *t, const char *data, char **err_out)
{
    char http[16], mq[16], tls[16];
    snprintf(http, sizeof http, "%d", ht_it_free_port());
    snprintf(mq, sizeof mq, "%d", ht_it_free_port());
    snprintf(tls, sizeof tls, "%d", ht_it_free_port());
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin,  "--data-dir",  data, "--http-port",
                          http, "--mqtt-port", mq,   "--mqtt-tls-port",
                          tls,  "--no-mdns",   NULL};
    int rc = ht_it_run(t, argv, NULL, 20000, NULL, err_out);
    free(bin);
    return rc;
}

/* A first start that makes the database and the admin token, then a
 * clean stop. Returns the token (new); db gets the database's path. */
static char *first_start(struct ht_it *t, const char *data, char db[512])
{
    snprintf(db, 512, "%s/holotwin.db", data);
    int port = ht_it_free_port();
    char http[16], mq[16], tls[16];
    snprintf(http, sizeof http, "%d", port);
    snprintf(mq, sizeof mq, "%d", ht_it_free_port());
    snprintf(tls, sizeof tls, "%d", ht_it_free_port());
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin,  "--data-dir",  data, "--http-port",
                          http, "--mqtt-port", mq,   "--mqtt-tls-port",
                          tls,  "--no-mdns",   NULL};
    pid_t p = ht_it_spawn(t, "gatewayd-first", argv, NULL);
    HT_CHECK(t, ht_it_wait_port(port, 15000), "first start");
    int st = ht_it_stop(t, p, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(bin);
    char tp[512];
    snprintf(tp, sizeof tp, "%s/admin.token", data);
    char *tok = slurp(tp, NULL);
    HT_CHECK(t, tok && *tok, "no admin token after the first start");
    return tok;
}

/* The start fails with msg in its error, the token is the old one and the
 * database file is what it was before (never overwritten). */
static void refused(struct ht_it *t, const char *data, const char *tok,
                    const char *msg)
{
    char db[512], tp[512];
    snprintf(db, sizeof db, "%s/holotwin.db", data);
    snprintf(tp, sizeof tp, "%s/admin.token", data);
    size_t before_len = 0, after_len = 0;
    char *before = slurp(db, &before_len);
    char *err = NULL;
    int rc = run_gw(t, data, &err);
    HT_CHECK(t, rc > 0, "gatewayd started (or died by a signal): %d\n%s", rc,
             err ? err : "");
    HT_CHECK(t, err && strstr(err, msg), "no '%s' in:\n%s", msg,
             err ? err : "");
    char *tok2 = slurp(tp, NULL);
    HT_CHECK(t, tok2 && !strcmp(tok, tok2), "the admin token changed");
    char *after = slurp(db, &after_len);
    HT_CHECK(t,
             (!before && !after) ||
                 (before && after && before_len == after_len &&
                  !memcmp(before, after, before_len)),
             "the database file was changed");
    free(before);
    free(after);
    free(tok2);
    free(err);
}

static void overwrite(struct ht_it *t, const char *path, off_t at, size_t n)
{
    int fd = open(path, O_WRONLY);
    HT_CHECK(t, fd >= 0);
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    HT_CHECK(t, n <= sizeof junk && pwrite(fd, junk, n, at) == (ssize_t)n);
    close(fd);
}

static void corrupt_database_is_refused_at_start(struct ht_it *t)
{
    char *data = ht_it_path(t, "data"), db[512];
    char *tok = first_start(t, data, db);
    struct stat st;
    HT_CHECK(t, stat(db, &st) == 0 && st.st_size >= 3 * 4096,
             "database smaller than expected");
    /* Garbage inside the file: pages 2 and 3 (b-tree pages). */
    overwrite(t, db, 4096, 8192);
    refused(t, data, tok, "corrupt");
    /* Garbage in the header too. */
    overwrite(t, db, 0, 100);
    refused(t, data, tok, "not starting");
    free(tok);
    free(data);
}

static void empty_database_is_not_a_fresh_install(struct ht_it *t)
{
    char *data = ht_it_path(t, "data"), db[512];
    char *tok = first_start(t, data, db);
    HT_CHECK(t, truncate(db, 0) == 0);
    refused(t, data, tok, "is empty (0 bytes)");
    /* Gone altogether while its journal is still there. */
    HT_CHECK(t, unlink(db) == 0);
    refused(t, data, tok, "is missing but");
    free(tok);
    free(data);
}

/* A 6 MiB tmpfs: less than the journal (8 MiB) and the database need. The
 * mount lives in a private mount namespace of the gatewayd process only
 * (unshare), so nothing is left mounted whatever happens. */
static void full_disk_at_start_is_a_clear_error(struct ht_it *t)
{
    char *data = ht_it_path(t, "small");
    HT_CHECK(t, mkdir(data, 0750) == 0);
    char http[16], mq[16], tls[16];
    snprintf(http, sizeof http, "%d", ht_it_free_port());
    snprintf(mq, sizeof mq, "%d", ht_it_free_port());
    snprintf(tls, sizeof tls, "%d", ht_it_free_port());
    char *bin = ht_it_bin("gatewayd");
    char script[1024];
    snprintf(script, sizeof script,
             "mount -t tmpfs -o size=%s tmpfs '%s' || exit 99; "
             "exec '%s' --data-dir '%s' --http-port %s --mqtt-port %s "
             "--mqtt-tls-port %s --no-mdns",
             "6m", data, bin, data, http, mq, tls);
    const char *argv[] = {"/usr/bin/unshare",
                          "--mount",
                          "--propagation",
                          "private",
                          "sh",
                          "-c",
                          script,
                          NULL};
    char *err = NULL;
    int rc = ht_it_run(t, argv, NULL, 20000, NULL, &err);
    HT_CHECK(t, rc != 99, "cannot mount a tmpfs (needs root): %s",
             err ? err : "");
    HT_CHECK(t, rc > 0, "gatewayd did not exit with an error: %d\n%s", rc,
             err ? err : "");
    HT_CHECK(t, err && strstr(err, "KiB needed at start"), "stderr:\n%s",
             err ? err : "");
    free(err);

    /* 14 MiB: room for the journal and the database, so it starts. */
    snprintf(script, sizeof script,
             "mount -t tmpfs -o size=%s tmpfs '%s' || exit 99; "
             "'%s' --data-dir '%s' --http-port %s --mqtt-port %s "
             "--no-mdns & p=$!; sleep 3; kill -TERM $p; wait $p",
             "14m", data, bin, data, http, mq);
    err = NULL;
    rc = ht_it_run(t, argv, NULL, 30000, NULL, &err);
    HT_CHECK(t, rc == 0, "gatewayd on 14 MiB: %d\n%s", rc, err ? err : "");
    free(err);
    free(bin);
    free(data);
}

/* broker.bin that does not exist: a clear error at start, no "ready"
 * and no restart loop. */
static void missing_broker_binary_is_a_clear_error(struct ht_it *t)
{
    char *data = ht_it_path(t, "data");
    char conf[512];
    snprintf(conf, sizeof conf,
             "{\"data_dir\":\"%s\",\"http\":{\"port\":%d},"
             "\"mqtt\":{\"port\":%d},\"mdns\":{\"enabled\":false},"
             "\"broker\":{\"bin\":\"/nonexistent/mosquitto\"}}",
             data, ht_it_free_port(), ht_it_free_port());
    char *cpath = ht_it_write(t, "gatewayd.json", conf);
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin, "--config", cpath, NULL};
    char *err = NULL;
    int rc = ht_it_run(t, argv, NULL, 20000, NULL, &err);
    HT_CHECK(t, rc > 0, "gatewayd kept running or died: %d\n%s", rc,
             err ? err : "");
    HT_CHECK(t,
             err && strstr(err, "/nonexistent/mosquitto' not found") &&
                 !strstr(err, "ready"),
             "stderr:\n%s", err ? err : "");
    free(err);
    free(bin);
    free(cpath);
    free(data);
}

HT_IT_MAIN(HT_IT_CASE(corrupt_database_is_refused_at_start),
           HT_IT_CASE(empty_database_is_not_a_fresh_install),
           HT_IT_CASE(full_disk_at_start_is_a_clear_error),
           HT_IT_CASE(missing_broker_binary_is_a_clear_error))
