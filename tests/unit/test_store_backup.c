/* test_store_backup.c - backup and restore of the gateway's data on real
 * SQLite files: a backup of an open store (with rows still in its journal)
 * restores into another directory with its files; restore refuses what it
 * must; and a database of every schema version this gatewayd has had
 * migrates on open, also when it comes from an old backup. */
#include "gateway/store/store.h"
#include "gateway/store/store_internal.h"

#include "ht_err.h"

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256], dir2[300], bak[300];

static void rm_rf(const char *d)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", d);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ht-backup-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(dir2, sizeof dir2, "%s/restored", dir);
    snprintf(bak, sizeof bak, "%s/backup.db", dir);
}

static void teardown(void)
{
    rm_rf(dir);
}

static struct ht_store *open_at(const char *d)
{
    struct ht_store *st = NULL;
    char err[256] = "";
    ck_assert_msg(ht_store_open(d, NULL, &st, err, sizeof err) == HT_OK, "%s",
                  err);
    return st;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void count_cred(void *ud, const char *user, const char *hash)
{
    (void)hash;
    if (!strcmp(user, "board-7"))
        (*(int *)ud)++;
}

static void find_latest(void *ud, const char *id, const char *name,
                        const json_t *v, int64_t ts, int64_t seq)
{
    (void)ts;
    (void)seq;
    if (!strcmp(id, "board-7") && !strcmp(name, "temp") &&
        json_integer_value(v) == 21)
        (*(int *)ud)++;
}

static const char *const HASH =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

START_TEST(backup_of_an_open_store_restores_with_its_files)
{
    struct ht_store *s = open_at(dir);
    struct ht_store_device d = {.id = "board-7",
                                .title = "Board 7",
                                .state = "approved",
                                .created = 1000};
    ck_assert_int_eq(ht_store_device_put(s, &d), HT_OK);
    struct ht_store_token t = {
        .id = "tok1", .name = "ops", .role = "admin", .created = 1000};
    ck_assert_int_eq(ht_store_token_add(s, &t, HASH), HT_OK);
    ck_assert_int_eq(ht_store_cred_put(s, "board-7", "$7$hash", 1000), HT_OK);
    /* Journaled, not yet committed: the backup must flush it first. */
    json_t *v = json_integer(21);
    ck_assert_int_eq(ht_store_value_add(s, "board-7", "temp", v, "21", 2000, 1),
                     HT_OK);
    json_decref(v);
    char secret[300], missing[300];
    snprintf(secret, sizeof secret, "%s/gateway.secret", dir);
    snprintf(missing, sizeof missing, "%s/nope", dir);
    write_file(secret, "s3cr3t\n");
    struct ht_store_file files[] = {
        {"broker/gateway.secret", secret},
        {"broker/acl", missing}, /* absent: left out */
    };
    char err[256] = "";
    ck_assert_msg(ht_store_backup(s, bak, files, 2, err, sizeof err) == HT_OK,
                  "%s", err);
    ht_store_close(s);

    ck_assert_msg(ht_store_restore(bak, dir2, err, sizeof err) == HT_OK, "%s",
                  err);
    s = open_at(dir2);
    ck_assert_int_eq(ht_store_schema_version(s), HT_STORE_SCHEMA_VERSION);
    struct ht_store_device got;
    ck_assert_int_eq(ht_store_device_get(s, "board-7", &got), HT_OK);
    ck_assert_str_eq(got.title, "Board 7");
    struct ht_store_token tk;
    ck_assert_int_eq(ht_store_token_find(s, HASH, &tk), HT_OK);
    ck_assert_str_eq(tk.role, "admin");
    int n = 0;
    ht_store_cred_each(s, count_cred, &n);
    ck_assert_int_eq(n, 1);
    n = 0;
    ht_store_latest_each(s, find_latest, &n);
    ck_assert_int_eq(n, 1);
    ht_store_close(s);

    char path[400];
    snprintf(path, sizeof path, "%s/broker/gateway.secret", dir2);
    ck_assert_str_eq(read_text(path), "s3cr3t\n");
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/broker/acl", dir2);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* The row every old-schema database gets (schema 1 has devices). */
static void add_old_device(sqlite3 *db, int version)
{
    if (version < 1)
        return;
    ck_assert_int_eq(sqlite3_exec(db,
                                  "INSERT INTO devices (id, title, state, "
                                  "created) VALUES ('old-1', 'Old', "
                                  "'approved', 5)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
}

/* A backup file made by hand from a bare database of schema version v,
 * as an older gatewayd would have written it. */
static void make_backup(const char *path, int version, const char *fname)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(store__migrate_to(db, version), HT_OK);
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE holotwin_backup (k TEXT PRIMARY KEY, v);"
             "INSERT INTO holotwin_backup VALUES ('format', 1), ('schema', %d);"
             "CREATE TABLE holotwin_backup_files (name TEXT PRIMARY KEY, data "
             "BLOB NOT NULL);"
             "INSERT INTO holotwin_backup_files VALUES ('%s', 'x');",
             version, fname);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    add_old_device(db, version);
    sqlite3_close(db);
}

START_TEST(restore_refuses_what_it_must)
{
    char err[256] = "";
    /* Not a backup at all. */
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(bak, &db), SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL);
    sqlite3_close(db);
    ck_assert_int_eq(ht_store_restore(bak, dir2, err, sizeof err), HT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "not a Holotwin backup"));
    unlink(bak);
    /* From a newer gatewayd. */
    make_backup(bak, 1, "broker/x");
    ck_assert_int_eq(sqlite3_open(bak, &db), SQLITE_OK);
    sqlite3_exec(db, "UPDATE holotwin_backup SET v = 99 WHERE k = 'schema'",
                 NULL, NULL, NULL);
    sqlite3_close(db);
    ck_assert_int_eq(ht_store_restore(bak, dir2, err, sizeof err), HT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "newer"));
    unlink(bak);
    /* A file name that leaves the data directory: nothing is written. */
    make_backup(bak, 1, "broker/../../evil");
    ck_assert_int_eq(ht_store_restore(bak, dir2, err, sizeof err), HT_EINVAL);
    char path[400];
    snprintf(path, sizeof path, "%s/holotwin.db", dir2);
    ck_assert_int_ne(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/evil", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    unlink(bak);
    /* Into a directory that has a database: it is left alone. */
    make_backup(bak, 1, "broker/x");
    struct ht_store *s = open_at(dir2);
    ht_store_close(s);
    ck_assert_int_eq(ht_store_restore(bak, dir2, err, sizeof err), HT_EEXIST);
}
END_TEST

/* Every schema version this gatewayd has shipped (0: a new file) opens and
 * migrates to the current one, keeping its rows; and a backup taken at
 * that version restores and migrates the same way. */
START_TEST(every_schema_version_migrates_directly_and_from_a_backup)
{
    for (int v = 0; v <= store__schema_latest(); v++) {
        char d[400], path[450], err[256] = "";
        snprintf(d, sizeof d, "%s/v%d", dir, v);
        ck_assert_int_eq(mkdir(d, 0700), 0);
        snprintf(path, sizeof path, "%s/holotwin.db", d);
        sqlite3 *db;
        ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
        ck_assert_int_eq(store__migrate_to(db, v), HT_OK);
        add_old_device(db, v);
        /* Version 0 has no table: write the header, so the file is a
         * database and not the empty file start-up refuses. */
        ck_assert_int_eq(
            sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL),
            SQLITE_OK);
        sqlite3_close(db);
        struct ht_store *s = open_at(d);
        ck_assert_int_eq(ht_store_schema_version(s), HT_STORE_SCHEMA_VERSION);
        struct ht_store_device got;
        ck_assert_int_eq(ht_store_device_get(s, "old-1", &got),
                         v >= 1 ? HT_OK : HT_ENOENT);
        /* The migrated schema takes new rows of every kind. */
        ck_assert_int_eq(ht_store_cred_put(s, "u", "h", 1), HT_OK);
        ht_store_close(s);

        char b[450], d2[450];
        snprintf(b, sizeof b, "%s/v%d.backup", dir, v);
        snprintf(d2, sizeof d2, "%s/v%d-restored", dir, v);
        make_backup(b, v, "broker/gateway.secret");
        ck_assert_msg(ht_store_restore(b, d2, err, sizeof err) == HT_OK,
                      "v%d: %s", v, err);
        s = open_at(d2);
        ck_assert_int_eq(ht_store_schema_version(s), HT_STORE_SCHEMA_VERSION);
        ck_assert_int_eq(ht_store_device_get(s, "old-1", &got),
                         v >= 1 ? HT_OK : HT_ENOENT);
        ht_store_close(s);
    }
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_backup");
    TCase *tc = tcase_create("backup");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, backup_of_an_open_store_restores_with_its_files);
    tcase_add_test(tc, restore_refuses_what_it_must);
    tcase_add_test(tc,
                   every_schema_version_migrates_directly_and_from_a_backup);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
