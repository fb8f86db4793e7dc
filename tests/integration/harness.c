/* harness.c - integration-test harness (see harness.h).
 *
 * Each case runs in its own process (the runner starts one per case), so
 * process-wide state here is per case: the case context, the children it
 * started, and the timeout alarm. Children get PR_SET_PDEATHSIG=SIGKILL so
 * they die with the case even when it crashes.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64

struct ht_it {
    const char *name;
    char netns[32]; /* set while a private network namespace is in use */
    char dir[256];
    pid_t children[MAX_CHILDREN];
    size_t nchildren;
    /* A child that starts daemons of its own in other sessions (the demo
     * script): stopped with SIGTERM first, so that it stops them. */
    pid_t soft;
};

/* The running case: needed by the SIGALRM handler and atexit. */
static struct ht_it *g_case;

static void drop_netns(void);

void ht_it_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void kill_children(struct ht_it *t)
{
    if (t->soft > 0 && kill(t->soft, SIGTERM) == 0) {
        /* async-signal-safe: a bounded poll of waitpid. */
        for (int i = 0; i < 300; i++) {
            if (waitpid(t->soft, NULL, WNOHANG) == t->soft)
                break;
            struct timespec ts = {0, 50000000L};
            nanosleep(&ts, NULL);
        }
    }
    t->soft = 0;
    for (size_t i = 0; i < t->nchildren; i++)
        if (t->children[i] > 0)
            kill(t->children[i], SIGKILL);
    for (size_t i = 0; i < t->nchildren; i++)
        if (t->children[i] > 0)
            waitpid(t->children[i], NULL, 0);
    t->nchildren = 0;
}

static void forget_child(struct ht_it *t, pid_t pid)
{
    if (t->soft == pid)
        t->soft = 0;
    for (size_t i = 0; i < t->nchildren; i++)
        if (t->children[i] == pid)
            t->children[i] = -1;
}

void ht_it_log(struct ht_it *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  [%s] ", t ? t->name : "?");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Print the tail of every log in the case directory: the daemons' own
 * words are usually the fastest way to see why a case failed. */
static void dump_logs(struct ht_it *t)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "for f in '%s'/*.log; do [ -f \"$f\" ] || continue; "
             "echo \"  --- tail of $f\"; tail -n 25 \"$f\" | sed 's/^/  | /'; "
             "done >&2",
             t->dir);
    if (system(cmd) < 0) {
        /* diagnostics only */
    }
}

void ht_it_fail(struct ht_it *t, const char *file, int line, const char *fmt,
                ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s at %s:%d: ", t ? t->name : "?", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (t) {
        kill_children(t);
        dump_logs(t);
        fprintf(stderr, "  (files kept in %s)\n", t->dir);
    }
    fflush(stderr);
    drop_netns();
    _exit(1);
}

void ht_it_failc(struct ht_it *t, const char *file, int line, const char *cond,
                 const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *m = msg[0] == ' ' ? msg + 1 : msg;
    ht_it_fail(t, file, line, "check failed: %s%s%s", cond, *m ? ": " : "", m);
}

/* Remove the case's network namespace, if it made one. */
static void drop_netns(void)
{
    if (!g_case || !g_case->netns[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null", g_case->netns);
    if (system(cmd) < 0) {
        /* best effort */
    }
    g_case->netns[0] = '\0';
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: case timed out (HT_IT_TIMEOUT)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    if (g_case) {
        for (size_t i = 0; i < g_case->nchildren; i++)
            if (g_case->children[i] > 0)
                kill(g_case->children[i], SIGKILL);
    }
    _exit(3);
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

int ht_it_main(int argc, char **argv, const struct ht_it_case *cases)
{
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (const struct ht_it_case *c = cases; c->name; c++)
            printf("%s\n", c->name);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s --list | CASE\n", argv[0]);
        return 2;
    }
    const struct ht_it_case *c = cases;
    while (c->name && strcmp(c->name, argv[1]))
        c++;
    if (!c->name) {
        fprintf(stderr, "%s: no case '%s'\n", argv[0], argv[1]);
        return 2;
    }
    static struct ht_it t;
    t.name = c->name;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(t.dir, sizeof t.dir, "%s/ht-it-%s-XXXXXX", tmp, c->name);
    if (!mkdtemp(t.dir)) {
        fprintf(stderr, "FAIL %s: mkdtemp: %s\n", c->name, strerror(errno));
        return 1;
    }
    /* mosquitto run as root drops to user mosquitto: let it in. */
    chmod(t.dir, 0777);
    g_case = &t;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    const char *to = getenv("HT_IT_TIMEOUT");
    alarm(to ? (unsigned)atoi(to) : 60);

    atexit(drop_netns);
    c->fn(&t);

    alarm(0);
    kill_children(&t);
    if (!getenv("HT_IT_KEEP"))
        nftw(t.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

const char *ht_it_dir(struct ht_it *t)
{
    return t->dir;
}

char *ht_it_path(struct ht_it *t, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", t->dir, name) < 0)
        abort();
    return p;
}

char *ht_it_bin(const char *name)
{
    const char *d = getenv("HT_BIN_DIR");
    char *p = NULL;
    if (asprintf(&p, "%s/%s", d ? d : "build/test/bin", name) < 0)
        abort();
    return p;
}

const char *ht_it_src(void)
{
    const char *s = getenv("HT_SRC_DIR");
    return s ? s : ".";
}

char *ht_it_write(struct ht_it *t, const char *name, const char *content)
{
    char *p = ht_it_path(t, name);
    FILE *f = fopen(p, "w");
    if (!f)
        ht_it_fail(t, __FILE__, __LINE__, "cannot write %s: %s", p,
                   strerror(errno));
    fputs(content, f);
    fclose(f);
    return p;
}

/* The first port of the kernel's ephemeral range (32768 by default). */
static int ephemeral_low(void)
{
    int lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    return lo;
}

static bool port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* A free port below the kernel's ephemeral range. One from that range
 * (bind to port 0) may be handed, before our daemon binds it, to another
 * case's outgoing connection as its source port: the daemon then fails
 * with "Address already in use" (seen in make test). A random start per
 * process, then a stride coprime with the range, so one case never gets
 * the same port twice. */
int ht_it_free_port(void)
{
    static uint64_t start; /* test process only */
    static unsigned calls;
    const int base = 2000;
    int lo = ephemeral_low();
    if (lo - base >= 2000) {
        uint64_t range = (uint64_t)(lo - base);
        if (!start) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            start =
                ((uint64_t)getpid() * 2654435761u) ^ (uint64_t)ts.tv_nsec ^ 1;
        }
        for (int tries = 0; tries < 200; tries++) {
            uint64_t k = start + (uint64_t)calls++ * 7919u;
            int port = base + (int)(k % range);
            if (port_bindable(port))
                return port;
        }
    }
    for (int tries = 0; tries < 50; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof sa;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &sl) == 0) {
            int port = ntohs(sa.sin_port);
            close(fd);
            return port;
        }
        close(fd);
    }
    return -1;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

bool ht_it_wait_port(int port, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        int fd = tcp_connect(port);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        ht_it_sleep_ms(20);
    }
    return false;
}

/* ---- processes ---- */

static pid_t spawn(struct ht_it *t, const char *logpath,
                   const char *const argv[], const char *const env[],
                   int out_fd)
{
    if (t->nchildren == MAX_CHILDREN)
        ht_it_fail(t, __FILE__, __LINE__, "too many children");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        ht_it_fail(t, __FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        int fd = logpath ? open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644)
                         : out_fd;
        if (fd >= 0) {
            dup2(fd, 1);
            if (logpath)
                dup2(fd, 2);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    t->children[t->nchildren++] = pid;
    return pid;
}

pid_t ht_it_spawn(struct ht_it *t, const char *logname,
                  const char *const argv[], const char *const env[])
{
    char *log = NULL;
    if (asprintf(&log, "%s/%s.log", t->dir, logname) < 0)
        abort();
    pid_t pid = spawn(t, log, argv, env, -1);
    free(log);
    return pid;
}

int ht_it_stop(struct ht_it *t, pid_t pid, int sig, int timeout_ms)
{
    int status = -1;
    kill(pid, sig);
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            forget_child(t, pid);
            return status;
        }
        if (r < 0)
            break;
        ht_it_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    forget_child(t, pid);
    return -1;
}

bool ht_it_alive(struct ht_it *t, pid_t pid)
{
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
        forget_child(t, pid);
        return false;
    }
    return r == 0;
}

static char *read_all_fd(int fd)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return buf;
}

int ht_it_run(struct ht_it *t, const char *const argv[],
              const char *const env[], int timeout_ms, char **out,
              char **err_out)
{
    char *errpath = ht_it_path(t, "run.stderr");
    unlink(errpath);
    int pfd[2];
    if (pipe(pfd) < 0)
        ht_it_fail(t, __FILE__, __LINE__, "pipe: %s", strerror(errno));
    /* stderr goes to a file; stdout through the pipe. */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        ht_it_fail(t, __FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(pfd[1], 1);
        int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (efd >= 0)
            dup2(efd, 2);
        close(pfd[0]);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    t->children[t->nchildren++] = pid;
    close(pfd[1]);
    /* Read with a deadline so a hung command fails the case cleanly. */
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int waited = 0;
    for (;;) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r > 0) {
            if (n + 1 >= cap)
                buf = realloc(buf, cap *= 2);
            ssize_t rr = read(pfd[0], buf + n, cap - n - 1);
            if (rr <= 0)
                break;
            n += (size_t)rr;
        } else {
            waited += 100;
            if (waited > timeout_ms)
                break;
        }
    }
    buf[n] = '\0';
    close(pfd[0]);
    int status;
    int code = -1;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        if (waited > timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        ht_it_sleep_ms(10);
        waited += 10;
    }
    forget_child(t, pid);
    if (out)
        *out = buf;
    else
        free(buf);
    if (err_out) {
        int efd = open(errpath, O_RDONLY);
        *err_out = efd >= 0 ? read_all_fd(efd) : strdup("");
        if (efd >= 0)
            close(efd);
    }
    free(errpath);
    return code;
}

char *ht_it_logfile(struct ht_it *t, const char *logname)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s.log", t->dir, logname) < 0)
        abort();
    int fd = open(p, O_RDONLY);
    free(p);
    if (fd < 0)
        return strdup("");
    char *s = read_all_fd(fd);
    close(fd);
    return s;
}

/* ---- broker ---- */

static void broker_spawn(struct ht_it *t, struct ht_it_broker *b)
{
    char *mosq = getenv("HT_MOSQUITTO") ? strdup(getenv("HT_MOSQUITTO"))
                                        : strdup("/usr/sbin/mosquitto");
    if (access(mosq, X_OK) != 0)
        ht_it_fail(t, __FILE__, __LINE__,
                   "mosquitto not found at %s: run scripts/setup-deps", mosq);
    const char *argv[] = {mosq, "-c", b->conf, NULL};
    b->pid = ht_it_spawn(t, "mosquitto", argv, NULL);
    free(mosq);
    if (!ht_it_wait_port(b->port, 5000))
        ht_it_fail(t, __FILE__, __LINE__, "mosquitto did not listen on port %d",
                   b->port);
}

/* Harness brokers require a user name and password like any broker worth
 * the name (issue 14): one account per case process, put into the
 * environment every child inherits (HOLOTWIN_MQTT_USERNAME/PASSWORD, read
 * by gatewayd and device-agent when their config has none) and used by
 * ht_it_mqtt_new for these brokers' ports. */
#define HARNESS_USER "harness"
#define MAX_BROKERS 8
static char g_broker_pass[40];
static int g_broker_ports[MAX_BROKERS];
static size_t g_nbroker_ports;

static const char *harness_password(struct ht_it *t)
{
    if (!g_broker_pass[0]) {
        unsigned char r[16];
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r)
            ht_it_fail(t, __FILE__, __LINE__, "/dev/urandom: %s",
                       strerror(errno));
        close(fd);
        for (size_t i = 0; i < sizeof r; i++)
            snprintf(g_broker_pass + 2 * i, 3, "%02x", r[i]);
        setenv("HOLOTWIN_MQTT_USERNAME", HARNESS_USER, 1);
        setenv("HOLOTWIN_MQTT_PASSWORD", g_broker_pass, 1);
    }
    return g_broker_pass;
}

static bool harness_port(int port)
{
    for (size_t i = 0; i < g_nbroker_ports; i++)
        if (g_broker_ports[i] == port)
            return true;
    return false;
}

void ht_it_broker_start(struct ht_it *t, struct ht_it_broker *b,
                        const char *extra_conf)
{
    const char *pass = harness_password(t);
    char *pwfile = ht_it_path(t, "harness-broker.passwd");
    if (access(pwfile, F_OK) != 0) {
        const char *argv[] = {"/usr/bin/mosquitto_passwd",
                              "-c",
                              "-b",
                              pwfile,
                              HARNESS_USER,
                              pass,
                              NULL};
        char *err = NULL;
        if (ht_it_run(t, argv, NULL, 15000, NULL, &err) != 0)
            ht_it_fail(t, __FILE__, __LINE__, "mosquitto_passwd: %s",
                       err ? err : "failed");
        free(err);
    }
    snprintf(b->user, sizeof b->user, "%s", HARNESS_USER);
    snprintf(b->pass, sizeof b->pass, "%s", pass);
    for (int attempt = 0; attempt < 5; attempt++) {
        b->port = ht_it_free_port();
        char name[64];
        snprintf(name, sizeof name, "mosquitto-%d.conf", b->port);
        char body[4096];
        /* mosquitto reads the password file after dropping root for user
         * `mosquitto`, which cannot enter the case directory: as root,
         * it stays root (ignored for anyone else). */
        snprintf(body, sizeof body,
                 "listener %d 127.0.0.1\nallow_anonymous false\n"
                 "password_file %s\n%s"
                 "persistence false\nlog_dest stderr\n"
                 "log_type error\nlog_type warning\nlog_type notice\n%s\n",
                 b->port, pwfile, geteuid() == 0 ? "user root\n" : "",
                 extra_conf ? extra_conf : "");
        char *p = ht_it_write(t, name, body);
        snprintf(b->conf, sizeof b->conf, "%s", p);
        free(p);
        broker_spawn(t, b);
        if (ht_it_alive(t, b->pid)) {
            if (g_nbroker_ports < MAX_BROKERS)
                g_broker_ports[g_nbroker_ports++] = b->port;
            free(pwfile);
            return;
        }
        /* Lost a race for the port: pick another. */
    }
    ht_it_fail(t, __FILE__, __LINE__, "could not start mosquitto");
}

void ht_it_broker_stop(struct ht_it *t, struct ht_it_broker *b)
{
    if (b->pid > 0)
        ht_it_stop(t, b->pid, SIGTERM, 5000);
    b->pid = 0;
}

void ht_it_broker_restart(struct ht_it *t, struct ht_it_broker *b)
{
    ht_it_broker_stop(t, b);
    /* The port was ours a moment ago; wait until it can be bound again. */
    for (int i = 0; i < 50; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)b->port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            break;
        ht_it_sleep_ms(100);
    }
    broker_spawn(t, b);
}

/* ---- HTTP ---- */

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_request(int fd, const char *method, const char *path,
                        const char *extra_headers, const char *body)
{
    char *req = NULL;
    size_t blen = body ? strlen(body) : 0;
    int n = asprintf(&req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Connection: close\r\n%s%s",
                     method, path, extra_headers ? extra_headers : "",
                     body ? "" : "\r\n");
    if (n < 0)
        abort();
    int rc = send_all(fd, req, (size_t)n);
    free(req);
    if (rc == 0 && body) {
        char hdr[96];
        int hl = snprintf(hdr, sizeof hdr,
                          "Content-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          blen);
        /* A caller that set its own Content-Type wins: skip ours. */
        if (extra_headers && strcasestr(extra_headers, "content-type:"))
            hl = snprintf(hdr, sizeof hdr, "Content-Length: %zu\r\n\r\n", blen);
        rc = send_all(fd, hdr, (size_t)hl);
        if (rc == 0)
            rc = send_all(fd, body, blen);
    }
    return rc;
}

static bool header_end(const char *buf, size_t n, size_t *hl)
{
    for (size_t i = 0; i + 3 < n; i++) {
        if (!memcmp(buf + i, "\r\n\r\n", 4)) {
            *hl = i + 4;
            return true;
        }
    }
    return false;
}

/* Decode a chunked body in place; returns its length. */
static size_t dechunk(char *p, size_t n)
{
    size_t in = 0, out = 0;
    while (in < n) {
        char *end;
        unsigned long len = strtoul(p + in, &end, 16);
        char *crlf = strstr(end, "\r\n");
        if (!crlf || len == 0)
            break;
        in = (size_t)(crlf - p) + 2;
        if (in + len > n)
            len = n - in;
        memmove(p + out, p + in, len);
        out += len;
        in += len + 2;
    }
    p[out] = '\0';
    return out;
}

int ht_it_http(int port, const char *method, const char *path,
               const char *extra_headers, const char *body,
               struct ht_it_http *out)
{
    memset(out, 0, sizeof *out);
    int fd = tcp_connect(port);
    if (fd < 0)
        return fd;
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = send_request(fd, method, path, extra_headers, body);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    char *all = read_all_fd(fd);
    close(fd);
    size_t n = strlen(all), hl;
    if (!header_end(all, n, &hl) ||
        sscanf(all, "HTTP/1.%*d %d", &out->status) != 1) {
        free(all);
        return -EPROTO;
    }
    out->headers = strndup(all, hl);
    out->body = strdup(all + hl);
    out->len = n - hl;
    char *te = ht_it_http_header(out, "Transfer-Encoding");
    if (te && strcasestr(te, "chunked"))
        out->len = dechunk(out->body, out->len);
    free(te);
    free(all);
    return 0;
}

char *ht_it_http_header(const struct ht_it_http *r, const char *name)
{
    if (!r->headers)
        return NULL;
    size_t nl = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p && p[2];
         p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (!strncasecmp(line, name, nl) && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            return strndup(v, e ? (size_t)(e - v) : strlen(v));
        }
    }
    return NULL;
}

json_t *ht_it_http_json(const struct ht_it_http *r)
{
    if (!r->body)
        return NULL;
    return json_loads(r->body, JSON_DECODE_ANY, NULL);
}

void ht_it_http_free(struct ht_it_http *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* ---- SSE ---- */

struct ht_it_sse {
    int fd;
    int status;
    bool chunked;
    char *buf; /* decoded stream bytes not yet consumed */
    size_t n, cap;
    char *raw; /* undecoded chunked bytes */
    size_t rn, rcap;
};

static void sse_append(struct ht_it_sse *s, const char *p, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->n, p, n);
    s->n += n;
    s->buf[s->n] = '\0';
}

/* Move complete chunks from raw to buf. */
static void sse_dechunk(struct ht_it_sse *s)
{
    for (;;) {
        char *crlf = s->rn ? memmem(s->raw, s->rn, "\r\n", 2) : NULL;
        if (!crlf)
            return;
        unsigned long len = strtoul(s->raw, NULL, 16);
        size_t head = (size_t)(crlf - s->raw) + 2;
        if (s->rn < head + len + 2)
            return;
        sse_append(s, s->raw + head, len);
        size_t used = head + len + 2;
        memmove(s->raw, s->raw + used, s->rn - used);
        s->rn -= used;
        if (len == 0)
            return;
    }
}

static void sse_feed(struct ht_it_sse *s, const char *p, size_t n)
{
    if (!s->chunked) {
        sse_append(s, p, n);
        return;
    }
    if (s->rn + n + 1 > s->rcap) {
        s->rcap = (s->rn + n + 1) * 2;
        s->raw = realloc(s->raw, s->rcap);
    }
    memcpy(s->raw + s->rn, p, n);
    s->rn += n;
    sse_dechunk(s);
}

struct ht_it_sse *ht_it_sse_open(int port, const char *path,
                                 const char *extra_headers)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return NULL;
    char *hdrs = NULL;
    if (asprintf(&hdrs, "Accept: text/event-stream\r\n%s",
                 extra_headers ? extra_headers : "") < 0)
        abort();
    int rc = send_request(fd, "GET", path, hdrs, NULL);
    free(hdrs);
    if (rc < 0) {
        close(fd);
        return NULL;
    }
    struct ht_it_sse *s = calloc(1, sizeof *s);
    s->fd = fd;
    /* Read the response head. */
    char head[8192];
    size_t n = 0, hl = 0;
    while (!header_end(head, n, &hl)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0 || n >= sizeof head - 1)
            goto fail;
        ssize_t r = read(fd, head + n, sizeof head - 1 - n);
        if (r <= 0)
            goto fail;
        n += (size_t)r;
    }
    head[n] = '\0';
    if (sscanf(head, "HTTP/1.%*d %d", &s->status) != 1)
        goto fail;
    char saved = head[hl];
    head[hl] = '\0';
    s->chunked = strcasestr(head, "transfer-encoding: chunked") != NULL;
    head[hl] = saved;
    sse_feed(s, head + hl, n - hl);
    return s;
fail:
    close(fd);
    free(s);
    return NULL;
}

int ht_it_sse_status(const struct ht_it_sse *s)
{
    return s->status;
}

/* Take one complete event (terminated by a blank line) from buf. */
static int sse_take(struct ht_it_sse *s, char **event, char **data, char **id)
{
    char *end = s->n ? strstr(s->buf, "\n\n") : NULL;
    if (!end)
        return 0;
    *end = '\0';
    char *ev = NULL, *dt = NULL, *idv = NULL;
    size_t dlen = 0;
    bool any = false;
    for (char *line = s->buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r')
            line[--ll] = '\0';
        if (!strncmp(line, "event:", 6)) {
            free(ev);
            ev = strdup(line + 6 + (line[6] == ' '));
            any = true;
        } else if (!strncmp(line, "id:", 3)) {
            free(idv);
            idv = strdup(line + 3 + (line[3] == ' '));
            any = true;
        } else if (!strncmp(line, "data:", 5)) {
            const char *v = line + 5 + (line[5] == ' ');
            size_t vl = strlen(v);
            dt = realloc(dt, dlen + vl + 2);
            if (dlen)
                dt[dlen++] = '\n';
            memcpy(dt + dlen, v, vl);
            dlen += vl;
            dt[dlen] = '\0';
            any = true;
        }
        line = nl ? nl + 1 : NULL;
    }
    size_t used = (size_t)(end - s->buf) + 2;
    memmove(s->buf, s->buf + used, s->n - used + 1);
    s->n -= used;
    if (!any) { /* a comment or keep-alive: skip */
        free(ev);
        free(dt);
        free(idv);
        return sse_take(s, event, data, id);
    }
    if (event)
        *event = ev;
    else
        free(ev);
    if (data)
        *data = dt ? dt : strdup("");
    else
        free(dt);
    if (id)
        *id = idv;
    else
        free(idv);
    return 1;
}

int ht_it_sse_next(struct ht_it_sse *s, int timeout_ms, char **event,
                   char **data, char **id)
{
    if (event)
        *event = NULL;
    if (data)
        *data = NULL;
    if (id)
        *id = NULL;
    int waited = 0;
    for (;;) {
        /* Normalise CRLF line ends so one parser serves both. */
        for (size_t i = 0; i + 1 < s->n; i++) {
            if (s->buf[i] == '\r' && s->buf[i + 1] == '\n') {
                memmove(s->buf + i, s->buf + i + 1, s->n - i);
                s->n--;
            }
        }
        int r = sse_take(s, event, data, id);
        if (r)
            return r;
        if (waited >= timeout_ms)
            return 0;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int pr = poll(&p, 1, 50);
        waited += 50;
        if (pr > 0) {
            char tmp[4096];
            ssize_t n = read(s->fd, tmp, sizeof tmp);
            if (n <= 0)
                return -1;
            sse_feed(s, tmp, (size_t)n);
        }
    }
}

void ht_it_sse_close(struct ht_it_sse *s)
{
    if (!s)
        return;
    close(s->fd);
    free(s->buf);
    free(s->raw);
    free(s);
}

/* ---- MQTT ---- */

struct msg {
    char *topic;
    char *payload;
};

struct ht_it_mqtt {
    struct mosquitto *mosq;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct msg *msgs;
    size_t nmsgs, cap;
    int last_mid_done;
    int last_reason;
    int suback_mid, suback_qos;
    bool connected;
    int connect_rc;
    unsigned disconnects;
};

static void m_on_connect(struct mosquitto *m, void *ud, int rc, int flags,
                         const mosquitto_property *p)
{
    (void)m;
    (void)flags;
    (void)p;
    struct ht_it_mqtt *c = ud;
    pthread_mutex_lock(&c->lock);
    c->connected = rc == 0;
    c->connect_rc = rc;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void m_on_disconnect(struct mosquitto *m, void *ud, int rc,
                            const mosquitto_property *p)
{
    (void)m;
    (void)rc;
    (void)p;
    struct ht_it_mqtt *c = ud;
    pthread_mutex_lock(&c->lock);
    c->connected = false;
    c->disconnects++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

unsigned ht_it_mqtt_disconnects(struct ht_it_mqtt *c)
{
    pthread_mutex_lock(&c->lock);
    unsigned n = c->disconnects;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void m_on_message(struct mosquitto *m, void *ud,
                         const struct mosquitto_message *msg,
                         const mosquitto_property *p)
{
    (void)m;
    (void)p;
    struct ht_it_mqtt *c = ud;
    pthread_mutex_lock(&c->lock);
    if (c->nmsgs == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->msgs = realloc(c->msgs, c->cap * sizeof *c->msgs);
    }
    c->msgs[c->nmsgs].topic = strdup(msg->topic);
    c->msgs[c->nmsgs].payload =
        strndup(msg->payload ? msg->payload : "", (size_t)msg->payloadlen);
    c->nmsgs++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void m_on_publish(struct mosquitto *m, void *ud, int mid, int reason,
                         const mosquitto_property *p)
{
    (void)m;
    (void)p;
    struct ht_it_mqtt *c = ud;
    pthread_mutex_lock(&c->lock);
    c->last_mid_done = mid;
    c->last_reason = reason;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void m_on_subscribe(struct mosquitto *m, void *ud, int mid, int n,
                           const int *granted, const mosquitto_property *p)
{
    (void)m;
    (void)p;
    struct ht_it_mqtt *c = ud;
    pthread_mutex_lock(&c->lock);
    c->suback_mid = mid;
    c->suback_qos = n > 0 ? granted[0] : 128;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

struct ht_it_mqtt *ht_it_mqtt_new(int port, const char *client_id,
                                  const char *user, const char *pass)
{
    return ht_it_mqtt_new_will(port, client_id, user, pass, NULL, NULL);
}

struct ht_it_mqtt *ht_it_mqtt_new_will(int port, const char *client_id,
                                       const char *user, const char *pass,
                                       const char *will_topic,
                                       const char *will_payload)
{
    mosquitto_lib_init();
    struct ht_it_mqtt *c = calloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->connect_rc = -1;
    c->mosq = mosquitto_new(client_id, true, c);
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (!user && harness_port(port)) {
        user = HARNESS_USER;
        pass = g_broker_pass;
    }
    if (user)
        mosquitto_username_pw_set(c->mosq, user, pass);
    if (will_topic)
        mosquitto_will_set_v5(c->mosq, will_topic, (int)strlen(will_payload),
                              will_payload, 1, true, NULL);
    mosquitto_connect_v5_callback_set(c->mosq, m_on_connect);
    mosquitto_disconnect_v5_callback_set(c->mosq, m_on_disconnect);
    mosquitto_message_v5_callback_set(c->mosq, m_on_message);
    mosquitto_publish_v5_callback_set(c->mosq, m_on_publish);
    mosquitto_subscribe_v5_callback_set(c->mosq, m_on_subscribe);
    if (mosquitto_connect_bind_v5(c->mosq, "127.0.0.1", port, 30, NULL, NULL) ||
        mosquitto_loop_start(c->mosq)) {
        ht_it_mqtt_free(c);
        return NULL;
    }
    struct timespec ts;
    deadline(&ts, 5000);
    pthread_mutex_lock(&c->lock);
    while (c->connect_rc < 0)
        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
            break;
    bool ok = c->connected;
    pthread_mutex_unlock(&c->lock);
    if (!ok) {
        ht_it_mqtt_free(c);
        return NULL;
    }
    return c;
}

int ht_it_mqtt_sub(struct ht_it_mqtt *c, const char *pattern)
{
    int mid;
    pthread_mutex_lock(&c->lock);
    c->suback_mid = -1;
    pthread_mutex_unlock(&c->lock);
    if (mosquitto_subscribe_v5(c->mosq, &mid, pattern, 1, 0, NULL))
        return -1;
    struct timespec ts;
    deadline(&ts, 5000);
    pthread_mutex_lock(&c->lock);
    while (c->suback_mid != mid)
        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
            break;
    int q = c->suback_mid == mid ? c->suback_qos : -1;
    pthread_mutex_unlock(&c->lock);
    return q;
}

static int publish(struct ht_it_mqtt *c, const char *topic, const char *payload,
                   int qos, bool retain, const mosquitto_property *props)
{
    int mid;
    pthread_mutex_lock(&c->lock);
    c->last_mid_done = -1;
    pthread_mutex_unlock(&c->lock);
    if (mosquitto_publish_v5(c->mosq, &mid, topic,
                             payload ? (int)strlen(payload) : 0, payload, qos,
                             retain, props))
        return -1;
    if (qos == 0)
        return 0;
    struct timespec ts;
    deadline(&ts, 5000);
    pthread_mutex_lock(&c->lock);
    while (c->last_mid_done != mid)
        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
            break;
    int r = c->last_mid_done == mid ? c->last_reason : -1;
    pthread_mutex_unlock(&c->lock);
    /* Reason codes below 128 are successes (16: no matching subscribers,
     * which is routine when nobody has subscribed yet). */
    return r >= 0 && r < 128 ? 0 : r;
}

int ht_it_mqtt_pub(struct ht_it_mqtt *c, const char *topic, const char *payload,
                   int qos, bool retain)
{
    return publish(c, topic, payload, qos, retain, NULL);
}

static bool topic_match(const char *pattern, const char *topic)
{
    bool r = false;
    mosquitto_topic_matches_sub(pattern, topic, &r);
    return r;
}

char *ht_it_mqtt_wait(struct ht_it_mqtt *c, const char *pattern,
                      const char *needle, int timeout_ms)
{
    struct timespec ts;
    deadline(&ts, timeout_ms);
    char *found = NULL;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        for (size_t i = 0; i < c->nmsgs && !found; i++)
            if (topic_match(pattern, c->msgs[i].topic) &&
                (!needle || strstr(c->msgs[i].payload, needle)))
                found = strdup(c->msgs[i].payload);
        if (found)
            break;
        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

char *ht_it_mqtt_request(struct ht_it_mqtt *c, const char *topic,
                         const char *payload, const char *resp_topic,
                         const char *corr, int timeout_ms)
{
    if (ht_it_mqtt_sub(c, resp_topic) < 0)
        return NULL;
    mosquitto_property *props = NULL;
    mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, resp_topic);
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr,
                                  (uint16_t)strlen(corr));
    int r = publish(c, topic, payload, 1, false, props);
    mosquitto_property_free_all(&props);
    if (r != 0)
        return NULL;
    return ht_it_mqtt_wait(c, resp_topic, NULL, timeout_ms);
}

size_t ht_it_mqtt_count(struct ht_it_mqtt *c, const char *pattern)
{
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nmsgs; i++)
        if (topic_match(pattern, c->msgs[i].topic))
            n++;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void ht_it_mqtt_clear(struct ht_it_mqtt *c)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nmsgs; i++) {
        free(c->msgs[i].topic);
        free(c->msgs[i].payload);
    }
    c->nmsgs = 0;
    pthread_mutex_unlock(&c->lock);
}

void ht_it_mqtt_drop(struct ht_it_mqtt *c)
{
    if (!c)
        return;
    /* MQTT 5 reason 4: "disconnect with Will message". */
    mosquitto_disconnect_v5(c->mosq, 4, NULL);
    ht_it_mqtt_free(c);
}

void ht_it_mqtt_free(struct ht_it_mqtt *c)
{
    if (!c)
        return;
    mosquitto_disconnect(c->mosq);
    mosquitto_loop_stop(c->mosq, true);
    mosquitto_destroy(c->mosq);
    ht_it_mqtt_clear(c);
    free(c->msgs);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
    mosquitto_lib_cleanup();
}

/* ---- real mDNS ---- */

static void sh(struct ht_it *t, const char *what, const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        ht_it_fail(t, __FILE__, __LINE__,
                   "mDNS set-up: %s failed (exit %d): %s", what, rc, cmd);
}

static void start_avahi(struct ht_it *t, const char *name, bool publish_addr,
                        char *bus_env, size_t bus_len)
{
    char d[400], path[500], body[1500];
    snprintf(d, sizeof d, "%s/%s", t->dir, name);
    mkdir(d, 0755);
    snprintf(path, sizeof path, "%s/dbus.conf", d);
    snprintf(body, sizeof body,
             "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus "
             "Configuration 1.0//EN\" \"http://www.freedesktop.org/standards/"
             "dbus/1.0/busconfig.dtd\">\n<busconfig><type>system</type>"
             "<listen>unix:path=%s/bus</listen><auth>EXTERNAL</auth>"
             "<policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/>"
             "<allow send_destination=\"*\"/><allow receive_sender=\"*\"/>"
             "</policy></busconfig>\n",
             d);
    FILE *f = fopen(path, "w");
    if (!f)
        ht_it_fail(t, __FILE__, __LINE__, "cannot write %s", path);
    fputs(body, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/avahi.conf", d);
    snprintf(body, sizeof body,
             "[server]\nhost-name=%s\nuse-ipv4=yes\nuse-ipv6=no\n"
             "allow-interfaces=lo\nenable-dbus=yes\n"
             "ratelimit-interval-usec=1000000\nratelimit-burst=1000\n"
             "[wide-area]\nenable-wide-area=no\n[publish]\npublish-hinfo=no\n"
             "publish-workstation=no\npublish-addresses=%s\n",
             name, publish_addr ? "yes" : "no");
    f = fopen(path, "w");
    if (!f)
        ht_it_fail(t, __FILE__, __LINE__, "cannot write %s", path);
    fputs(body, f);
    fclose(f);

    char conf[500], bus[500];
    snprintf(conf, sizeof conf, "--config-file=%s/dbus.conf", d);
    const char *dargv[] = {"/usr/bin/dbus-daemon", conf, "--nofork", NULL};
    if (access(dargv[0], X_OK) != 0)
        ht_it_fail(
            t, __FILE__, __LINE__,
            "mDNS: dbus-daemon missing (scripts/setup-deps installs dbus)");
    char logname[64];
    snprintf(logname, sizeof logname, "dbus-%s", name);
    ht_it_spawn(t, logname, dargv, NULL);
    snprintf(bus, sizeof bus, "%s/bus", d);
    for (int i = 0; i < 100 && access(bus, F_OK) != 0; i++)
        ht_it_sleep_ms(20);
    if (access(bus, F_OK) != 0)
        ht_it_fail(t, __FILE__, __LINE__, "mDNS: private D-Bus did not start");
    snprintf(bus_env, bus_len, "DBUS_SYSTEM_BUS_ADDRESS=unix:path=%s", bus);

    /* avahi-daemon wants its own /run/avahi-daemon: a private mount
     * namespace with a tmpfs there keeps it off the host's. */
    char script[800];
    snprintf(
        script, sizeof script,
        "mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs "
        "/run/avahi-daemon && exec /usr/sbin/avahi-daemon -f %s/avahi.conf "
        "--no-drop-root --no-chroot --no-rlimits --no-proc-title",
        d);
    const char *aargv[] = {"/usr/bin/unshare", "-m", "--propagation", "private",
                           "/bin/sh",          "-c", script,          NULL};
    const char *env[] = {bus_env, NULL};
    if (access("/usr/sbin/avahi-daemon", X_OK) != 0)
        ht_it_fail(
            t, __FILE__, __LINE__,
            "mDNS: avahi-daemon missing (scripts/setup-deps installs it)");
    snprintf(logname, sizeof logname, "avahi-%s", name);
    ht_it_spawn(t, logname, aargv, env);
    for (int i = 0; i < 200; i++) {
        char *log = ht_it_logfile(t, logname);
        bool up = strstr(log, "Server startup complete") != NULL;
        free(log);
        if (up)
            return;
        ht_it_sleep_ms(25);
    }
    ht_it_fail(t, __FILE__, __LINE__, "mDNS: avahi-daemon %s did not start",
               name);
}

void ht_it_mdns_start(struct ht_it *t, struct ht_it_mdns *m)
{
    if (geteuid() != 0)
        ht_it_fail(t, __FILE__, __LINE__,
                   "mDNS tests need root (network namespaces)");
    if (access("/usr/sbin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0 &&
        access("/usr/bin/ip", X_OK) != 0)
        ht_it_fail(t, __FILE__, __LINE__, "mDNS: iproute2 (ip) missing");
    snprintf(m->netns, sizeof m->netns, "htm%d", (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ip netns add %s", m->netns);
    sh(t, "create network namespace", cmd);
    snprintf(t->netns, sizeof t->netns, "%s", m->netns);
    snprintf(cmd, sizeof cmd,
             "ip -n %s link set lo up && ip -n %s link set lo multicast on",
             m->netns, m->netns);
    sh(t, "loopback up with multicast", cmd);
    char path[128];
    snprintf(path, sizeof path, "/var/run/netns/%s", m->netns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
        ht_it_fail(t, __FILE__, __LINE__, "mDNS: cannot enter %s: %s", path,
                   strerror(errno));
    close(fd);
    start_avahi(t, "mdnsa", true, m->bus_a, sizeof m->bus_a);
    start_avahi(t, "mdnsb", false, m->bus_b, sizeof m->bus_b);
}

char *ht_it_mdns_browse(struct ht_it *t, struct ht_it_mdns *m, const char *type,
                        const char *needle, int timeout_ms)
{
    const char *argv[] = {"/usr/bin/avahi-browse", "-rpt", type, NULL};
    const char *env[] = {m->bus_b, NULL};
    for (int waited = 0; waited <= timeout_ms; waited += 500) {
        char *out = NULL;
        ht_it_run(t, argv, env, 5000, &out, NULL);
        if (out && strstr(out, "\n=") && (!needle || strstr(out, needle)))
            return out;
        free(out);
        ht_it_sleep_ms(500);
    }
    return NULL;
}

/* ---- node tools ---- */

int ht_it_node(struct ht_it *t, const char *script, const char *const args[],
               int timeout_ms, char **out)
{
    char *path = NULL;
    if (asprintf(&path, "%s/tests/tools/%s", ht_it_src(), script) < 0)
        abort();
    const char *argv[32] = {"/usr/bin/node", path};
    size_t n = 2;
    for (; args && *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    if (access(argv[0], X_OK) != 0)
        ht_it_fail(t, __FILE__, __LINE__,
                   "node not found: run scripts/setup-deps");
    char *err = NULL, *o = NULL;
    int rc = ht_it_run(t, argv, NULL, timeout_ms, &o, &err);
    /* Combine stdout and stderr: checkers report on either. */
    char *all = NULL;
    if (asprintf(&all, "%s%s", o ? o : "", err ? err : "") < 0)
        abort();
    free(o);
    free(err);
    free(path);
    if (out)
        *out = all;
    else
        free(all);
    return rc;
}

/* ---- HTTP shorthands ---- */

int ht_it_call(int port, const char *hdr, const char *method, const char *path,
               const char *body, json_t **out)
{
    struct ht_it_http r;
    if (out)
        *out = NULL;
    if (ht_it_http(port, method, path, hdr, body, &r) != 0)
        return -1;
    int st = r.status;
    if (out)
        *out = ht_it_http_json(&r);
    ht_it_http_free(&r);
    return st;
}

char *ht_it_token(struct ht_it *t, int port, const char *admin_hdr,
                  const char *role, const char *name)
{
    char body[256];
    snprintf(body, sizeof body, "{\"role\":\"%s\",\"name\":\"%s\"}", role,
             name);
    json_t *o;
    int st = ht_it_call(port, admin_hdr, "POST", "/api/v1/tokens", body, &o);
    const char *tok = json_string_value(json_object_get(o, "token"));
    if (st != 201 || !tok)
        ht_it_fail(t, __FILE__, __LINE__, "POST /api/v1/tokens (%s): %d", role,
                   st);
    char *h;
    if (asprintf(&h, "Authorization: Bearer %s\r\n", tok) < 0)
        ht_it_fail(t, __FILE__, __LINE__, "out of memory");
    json_decref(o);
    return h;
}

json_t *ht_it_sse_wait(struct ht_it *t, struct ht_it_sse *s, const char *type,
                       const char *needle, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        char *ev = NULL, *data = NULL;
        int rc = ht_it_sse_next(s, 100, &ev, &data, NULL);
        if (rc < 0)
            ht_it_fail(t, __FILE__, __LINE__,
                       "event stream ended while waiting for %s", type);
        if (rc == 0)
            continue;
        json_t *j = json_loads(data ? data : "", 0, NULL);
        bool hit =
            ev && !strcmp(ev, type) && j && (!needle || strstr(data, needle));
        free(ev);
        free(data);
        if (hit)
            return j;
        json_decref(j);
    }
    ht_it_fail(t, __FILE__, __LINE__, "no '%s' event with %s within %d ms",
               type, needle ? needle : "(any)", timeout_ms);
}

/* ---- a sim board's control socket ---- */

char *ht_it_ctl(struct ht_it *t, const char *path, const char *cmd)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        ht_it_fail(t, __FILE__, __LINE__, "connect %s: %s", path,
                   strerror(errno));
    char line[256];
    snprintf(line, sizeof line, "%s\n", cmd);
    if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
        ht_it_fail(t, __FILE__, __LINE__, "write %s", path);
    char buf[512];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (memchr(buf, '\n', len))
            break;
    }
    close(fd);
    buf[len] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return strdup(buf);
}

/* ---- provisioning ---- */

int ht_it_provision(struct ht_it *t, int http_port, const char *auth_hdr,
                    const char *id, struct ht_it_creds *out)
{
    memset(out, 0, sizeof *out);
    char body[160];
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    struct ht_it_http r;
    if (ht_it_http(http_port, "POST", "/api/v1/devices", auth_hdr, body, &r))
        return -1;
    int st = r.status;
    json_t *a = st == 201 ? ht_it_http_json(&r) : NULL;
    if (a) {
        json_t *m = json_object_get(a, "mqtt");
        const char *u = json_string_value(json_object_get(m, "username"));
        const char *p = json_string_value(json_object_get(m, "password"));
        snprintf(out->user, sizeof out->user, "%s", u ? u : "");
        snprintf(out->pass, sizeof out->pass, "%s", p ? p : "");
        out->port = (int)json_integer_value(json_object_get(m, "port"));
        json_t *tls = json_object_get(m, "tls");
        out->tls_port = (int)json_integer_value(json_object_get(tls, "port"));
        const char *ca = json_string_value(json_object_get(tls, "ca"));
        if (ca) {
            char name[96];
            snprintf(name, sizeof name, "ca-%s.pem", id);
            char *path = ht_it_write(t, name, ca);
            snprintf(out->ca, sizeof out->ca, "%s", path);
            free(path);
        }
        out->config = strdup(r.body);
        json_decref(a);
    }
    ht_it_http_free(&r);
    return st;
}

/* ---- the virtual-factory demo ---- */

void ht_it_timeout(struct ht_it *t, unsigned seconds)
{
    (void)t;
    const char *to = getenv("HT_IT_TIMEOUT");
    unsigned base = to ? (unsigned)atoi(to) : 60;
    alarm(seconds > base ? seconds : base);
}

void ht_it_demo_start(struct ht_it *t, struct ht_it_demo *d)
{
    memset(d, 0, sizeof *d);
    d->http = ht_it_free_port();
    d->mqtt = ht_it_free_port();
    d->mqtts = ht_it_free_port();
    snprintf(d->data, sizeof d->data, "%s/demo", ht_it_dir(t));
    char script[512], http[16], mqtt[16], mqtts[16];
    snprintf(script, sizeof script, "%s/scripts/demo", ht_it_src());
    snprintf(http, sizeof http, "%d", d->http);
    snprintf(mqtt, sizeof mqtt, "%d", d->mqtt);
    snprintf(mqtts, sizeof mqtts, "%d", d->mqtts);
    const char *argv[] = {script, "--data-dir",  d->data, "--http-port",
                          http,   "--mqtt-port", mqtt,    "--mqtt-tls-port",
                          mqtts,  "--no-mdns",   NULL};
    /* The demo's daemons use its own broker accounts, not the harness's. */
    unsetenv("HOLOTWIN_MQTT_USERNAME");
    unsetenv("HOLOTWIN_MQTT_PASSWORD");
    d->pid = ht_it_spawn(t, "demo", argv, NULL);
    t->soft = d->pid;
    char *tok = NULL;
    for (int waited = 0; !tok; waited += 100) {
        char *log = ht_it_logfile(t, "demo");
        const char *m = log ? strstr(log, "Dashboard:") : NULL;
        m = m ? strstr(m, "#token=") : NULL;
        if (m) {
            m += 7;
            size_t n = strcspn(m, " \r\n");
            if (n > 0 && n < sizeof d->token && m[n] == '\n') {
                memcpy(d->token, m, n);
                tok = d->token;
            }
        }
        if (!tok && (waited >= 120000 || !ht_it_alive(t, d->pid)))
            ht_it_fail(t, __FILE__, __LINE__, "the demo did not start:\n%s",
                       log ? log : "(no log)");
        free(log);
        if (!tok)
            ht_it_sleep_ms(100);
    }
    ht_it_admin_token(t, d->data, d->admin, sizeof d->admin);
}

void ht_it_admin_token(struct ht_it *t, const char *data_dir, char *out,
                       size_t outlen)
{
    char path[600];
    snprintf(path, sizeof path, "%s/admin.token", data_dir);
    out[0] = '\0';
    /* The file is written once the store is open, which may be just after
     * the HTTP port answers: wait up to 5 s for it. */
    for (int i = 0; i < 250 && !out[0]; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(out, (int)outlen, f))
                out[0] = '\0';
            fclose(f);
        }
        out[strcspn(out, "\r\n")] = '\0';
        if (!out[0])
            ht_it_sleep_ms(20);
    }
    if (!out[0])
        ht_it_fail(t, __FILE__, __LINE__, "no admin token in %s", path);
}
