/* test_systemd.c - what a daemon tells systemd (ht_sd: READY, watchdog
 * pings from the loop, STOPPING) and how it logs when stderr is the
 * journal (ht_log: "<N>" priority prefixes, no timestamp), against a real
 * notification socket and real file descriptors. */
#include "ht_err.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_sd.h"

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static uint64_t fake_now;
static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static char sock_path[108];
static int sock = -1;

/* A datagram socket where systemd's would be, named by NOTIFY_SOCKET. */
static void sd_setup(void)
{
    snprintf(sock_path, sizeof sock_path, "/tmp/ht-sd-%d.sock", (int)getpid());
    unlink(sock_path);
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(sock, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock_path);
    ck_assert_int_eq(bind(sock, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", sock_path, 1);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

static void sd_teardown(void)
{
    close(sock);
    unlink(sock_path);
    unsetenv("NOTIFY_SOCKET");
}

/* The next notification, or "" when none is waiting. */
static const char *next_msg(void)
{
    static char buf[256];
    ssize_t n = recv(sock, buf, sizeof buf - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

START_TEST(ready_then_watchdog_pings_from_the_loop_then_stopping)
{
    setenv("WATCHDOG_USEC", "2000000", 1); /* 2 s: a ping every second */
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    struct ht_loop *l;
    ck_assert_int_eq(ht_loop_new(&l), HT_OK);
    fake_now = 5000;
    ht_loop_set_clock(l, fake_clock, NULL);
    struct ht_sd *sd = ht_sd_ready(l);
    char want[64];
    snprintf(want, sizeof want, "READY=1\nMAINPID=%s", pid);
    ck_assert_str_eq(next_msg(), want);
    ck_assert_str_eq(next_msg(), "");
    fake_now = 5999;
    ht_loop_run_once(l, 0);
    ck_assert_str_eq(next_msg(), "");
    fake_now = 6000;
    ht_loop_run_once(l, 0);
    ck_assert_str_eq(next_msg(), "WATCHDOG=1");
    fake_now = 7000;
    ht_loop_run_once(l, 0);
    ck_assert_str_eq(next_msg(), "WATCHDOG=1");
    ht_sd_reloading(sd, 0);
    ck_assert_str_eq(next_msg(), "RELOADING=1");
    ht_sd_reloading(sd, 1);
    ck_assert_str_eq(next_msg(), "READY=1");
    ht_sd_stopping(sd);
    ck_assert_str_eq(next_msg(), "STOPPING=1");
    fake_now = 9000;
    ht_loop_run_once(l, 0);
    ck_assert_str_eq(next_msg(), "");
    ht_sd_free(sd);
    ht_loop_free(l);
}
END_TEST

START_TEST(no_pings_without_a_watchdog_or_for_another_pid)
{
    struct ht_loop *l;
    ck_assert_int_eq(ht_loop_new(&l), HT_OK);
    fake_now = 1000;
    ht_loop_set_clock(l, fake_clock, NULL);
    struct ht_sd *sd = ht_sd_ready(l);
    ck_assert_ptr_nonnull(strstr(next_msg(), "READY=1"));
    fake_now = 100000;
    ht_loop_run_once(l, 0);
    ck_assert_str_eq(next_msg(), "");
    ht_sd_free(sd);

    /* The watchdog was asked for a parent (WATCHDOG_PID), not for us. */
    setenv("WATCHDOG_USEC", "1000000", 1);
    setenv("WATCHDOG_PID", "1", 1);
    sd = ht_sd_ready(l);
    ck_assert_ptr_nonnull(strstr(next_msg(), "READY=1"));
    fake_now = 200000;
    ht_loop_run_once(l, 0);
    ck_assert_str_eq(next_msg(), "");
    ht_sd_free(sd);
    ht_loop_free(l);
}
END_TEST

START_TEST(nothing_is_sent_outside_systemd)
{
    unsetenv("NOTIFY_SOCKET");
    struct ht_loop *l;
    ck_assert_int_eq(ht_loop_new(&l), HT_OK);
    struct ht_sd *sd = ht_sd_ready(l);
    ck_assert_ptr_nonnull(sd);
    ht_sd_stopping(sd);
    ck_assert_str_eq(next_msg(), "");
    ht_sd_free(sd);
    ht_sd_free(NULL);
    ht_sd_stopping(NULL);
    ht_loop_free(l);
}
END_TEST

/* stderr goes to a file (or a terminal) for the log tests; the real one
 * is put back afterwards so Check can report. */
static char log_path[64];
static int saved_stderr = -1;

static void log_setup(void)
{
    snprintf(log_path, sizeof log_path, "/tmp/ht-log-%d", (int)getpid());
    int fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    unsetenv("JOURNAL_STREAM");
    unsetenv("INVOCATION_ID");
    ht_log_set_level(LOG_DEBUG);
}

static void log_teardown(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    unlink(log_path);
    ht_log_shutdown();
}

/* Log one warning through the default sink; return what reached stderr. */
static const char *log_one(void)
{
    static char buf[512];
    if (ftruncate(STDERR_FILENO, 0) != 0)
        ck_abort_msg("ftruncate");
    lseek(STDERR_FILENO, 0, SEEK_SET);
    ht_log_set_sink(NULL); /* look at stderr and the environment again */
    ht_log(LOG_WARNING, "store", "disk %d%% full", 93);
    fflush(stderr);
    int fd = open(log_path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void set_journal_stream(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    char v[64];
    snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", v, 1);
}

START_TEST(journal_lines_carry_a_priority_and_no_timestamp)
{
    set_journal_stream(STDERR_FILENO);
    ck_assert_str_eq(log_one(), "<4>store: disk 93% full\n");
    ht_log(LOG_ERR, "mqtt", "gone");
    ht_log(LOG_DEBUG, "mqtt", "detail");
    fflush(stderr);
    char buf[256] = "";
    int fd = open(log_path, O_RDONLY);
    ck_assert_int_gt(read(fd, buf, sizeof buf - 1), 0);
    close(fd);
    ck_assert_str_eq(buf, "<4>store: disk 93% full\n<3>mqtt: gone\n"
                          "<7>mqtt: detail\n");
}
END_TEST

START_TEST(plain_lines_when_stderr_is_not_the_journal)
{
    /* No systemd at all: the timestamped development format. */
    const char *s = log_one();
    ck_assert_msg(s[0] >= '0' && s[0] <= '9' && s[2] == ':', "got '%s'", s);
    ck_assert_ptr_nonnull(strstr(s, "warn"));
    ck_assert_ptr_nonnull(strstr(s, "store    disk 93% full\n"));

    /* JOURNAL_STREAM names another stream (stderr was redirected). */
    set_journal_stream(saved_stderr);
    struct stat a, b;
    fstat(saved_stderr, &a);
    fstat(STDERR_FILENO, &b);
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        ck_assert_int_ne(log_one()[0], '<');
    unsetenv("JOURNAL_STREAM");
}
END_TEST

START_TEST(invocation_id_alone_means_journal_unless_a_terminal)
{
    setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef", 1);
    ck_assert_str_eq(log_one(), "<4>store: disk 93% full\n");

    /* The same on a terminal: unchanged, a person is reading. */
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(m, 0);
    ck_assert_int_eq(grantpt(m), 0);
    ck_assert_int_eq(unlockpt(m), 0);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    ck_assert_int_ge(s, 0);
    int keep = dup(STDERR_FILENO);
    dup2(s, STDERR_FILENO);
    ht_log_set_sink(NULL);
    ht_log(LOG_WARNING, "store", "on a tty");
    fflush(stderr);
    dup2(keep, STDERR_FILENO);
    close(keep);
    char buf[256] = "";
    ssize_t n = read(m, buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_msg(buf[0] != '<' && strstr(buf, "on a tty"), "got '%s'", buf);
    close(s);
    close(m);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("systemd");
    TCase *tc = tcase_create("sd_notify");
    tcase_add_checked_fixture(tc, sd_setup, sd_teardown);
    tcase_add_test(tc, ready_then_watchdog_pings_from_the_loop_then_stopping);
    tcase_add_test(tc, no_pings_without_a_watchdog_or_for_another_pid);
    tcase_add_test(tc, nothing_is_sent_outside_systemd);
    suite_add_tcase(su, tc);
    tc = tcase_create("journal_log");
    tcase_add_checked_fixture(tc, log_setup, log_teardown);
    tcase_add_test(tc, journal_lines_carry_a_priority_and_no_timestamp);
    tcase_add_test(tc, plain_lines_when_stderr_is_not_the_journal);
    tcase_add_test(tc, invocation_id_alone_means_journal_unless_a_terminal);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
