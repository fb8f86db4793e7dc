/* test_journal.c - the store's mmap'd write-ahead ring: records survive a
 * reopen, wrap around the ring, and torn, stale or foreign records are
 * never taken for new ones. */
#include "gateway/store/journal.h"

#include "ht_err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[256];

static void setup(void)
{
    snprintf(path, sizeof path, "/tmp/ht-journal-%d", (int)getpid());
    unlink(path);
}

static void teardown(void)
{
    unlink(path);
}

static struct ht_journal *jopen(size_t size, uint64_t epoch, uint64_t from)
{
    struct ht_journal *j = NULL;
    char err[256] = "";
    ck_assert_msg(
        ht_journal_open(path, size, epoch, from, &j, err, sizeof err) == HT_OK,
        "%s", err);
    return j;
}

static void add(struct ht_journal *j, const char *dev, int64_t seq)
{
    struct ht_jrec r = {.kind = HT_JREC_VALUE,
                        .a = dev,
                        .b = "speed",
                        .text = "42.5",
                        .ts = 1000 + seq,
                        .seq = seq,
                        .num = 42.5,
                        .has_num = true};
    ck_assert_int_eq(ht_journal_append(j, &r), HT_OK);
}

struct seen {
    int n;
    int64_t first, last;
};

static void collect(void *ud, const struct ht_jrec *r)
{
    struct seen *s = ud;
    ck_assert_int_eq(r->kind, HT_JREC_VALUE);
    ck_assert_str_eq(r->b, "speed");
    ck_assert_str_eq(r->text, "42.5");
    ck_assert(r->has_num);
    if (!s->n++)
        s->first = r->seq;
    s->last = r->seq;
}

START_TEST(records_survive_a_reopen)
{
    struct ht_journal *j = jopen(65536, 7, 0);
    for (int i = 0; i < 10; i++)
        add(j, "press-1", i);
    uint64_t end = ht_journal_head(j);
    ht_journal_close(j);
    j = jopen(65536, 7, 0);
    ck_assert_uint_eq(ht_journal_head(j), end);
    struct seen s = {0};
    ck_assert_uint_eq(ht_journal_each(j, 0, end, collect, &s), 10);
    ck_assert_int_eq(s.first, 0);
    ck_assert_int_eq(s.last, 9);
    ht_journal_close(j);
    /* Another database's epoch: nothing to replay. */
    j = jopen(65536, 8, 0);
    ck_assert_uint_eq(ht_journal_head(j), 0);
    ht_journal_close(j);
}
END_TEST

START_TEST(a_torn_record_ends_the_replay)
{
    struct ht_journal *j = jopen(65536, 1, 0);
    add(j, "a", 0);
    uint64_t one = ht_journal_head(j);
    add(j, "b", 1);
    add(j, "c", 2);
    ht_journal_close(j);
    /* Flip one byte of the second record's payload on disk. */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, (long)(4096 + one + 60), SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, (long)(4096 + one + 60), SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);
    j = jopen(65536, 1, 0);
    ck_assert_uint_eq(ht_journal_head(j), one);
    ht_journal_close(j);
}
END_TEST

START_TEST(the_ring_wraps_and_refuses_to_overrun)
{
    struct ht_journal *j = jopen(65536, 3, 0);
    int64_t seq = 0;
    /* Fill until the writer (release) is needed. */
    struct ht_jrec r = {.kind = HT_JREC_VALUE,
                        .a = "d",
                        .b = "speed",
                        .text = "42.5",
                        .has_num = true};
    int rc;
    while ((rc = ht_journal_append(j, &r)) == HT_OK)
        r.seq = ++seq;
    ck_assert_int_eq(rc, HT_EAGAIN);
    /* A full ring replays whole; once committed, appends wrap. */
    struct seen s = {0};
    ht_journal_close(j);
    j = jopen(65536, 3, 0);
    uint64_t head = ht_journal_head(j);
    ck_assert_uint_eq(ht_journal_each(j, 0, head, collect, &s), (size_t)seq);
    ht_journal_release(j, head);
    for (int i = 0; i < 100; i++)
        add(j, "d", seq + i);
    uint64_t end = ht_journal_head(j);
    ck_assert_uint_gt(end, ht_journal_size(j));
    ht_journal_close(j);
    /* Reopened from the committed position: exactly the new records. */
    j = jopen(65536, 3, head);
    ck_assert_uint_eq(ht_journal_head(j), end);
    memset(&s, 0, sizeof s);
    ck_assert_uint_eq(ht_journal_each(j, head, end, collect, &s), 100);
    ck_assert_int_eq(s.first, seq);
    ck_assert_int_eq(s.last, seq + 99);
    ht_journal_close(j);
}
END_TEST

START_TEST(an_oversize_record_is_refused)
{
    struct ht_journal *j = jopen(65536, 1, 0);
    size_t n = 65536 / 2;
    char *big = malloc(n);
    memset(big, 'x', n - 1);
    big[n - 1] = '\0';
    struct ht_jrec r = {.kind = HT_JREC_EVENT, .a = "state", .text = big};
    ck_assert_int_eq(ht_journal_append(j, &r), HT_ETOOBIG);
    ck_assert_uint_eq(ht_journal_head(j), 0);
    free(big);
    ht_journal_close(j);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("journal");
    TCase *tc = tcase_create("journal");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, records_survive_a_reopen);
    tcase_add_test(tc, a_torn_record_ends_the_replay);
    tcase_add_test(tc, the_ring_wraps_and_refuses_to_overrun);
    tcase_add_test(tc, an_oversize_record_is_refused);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
