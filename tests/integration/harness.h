/* harness.h - integration-test harness: real mosquitto, real daemons, real
 * HTTP and MQTT on loopback.
 *
 * A test binary holds several cases. `test_x --list` prints their names;
 * `test_x CASE` runs one in a fresh temporary directory and exits 0 (pass)
 * or 1 (fail). Every child started through the harness gets
 * PR_SET_PDEATHSIG=SIGKILL and is also killed by pid when the case ends,
 * fails, or times out (HT_IT_TIMEOUT seconds, default 60), so nothing
 * outlives a test. Cases pick their own free ports, so binaries and cases
 * run in parallel.
 *
 * Tests may use threads and blocking calls: the daemons' rules do not apply.
 */
#ifndef HT_IT_HARNESS_H
#define HT_IT_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ht_it;

struct ht_it_case {
    const char *name;
    void (*fn)(struct ht_it *t);
};

#define HT_IT_CASE(fn)                                                         \
    {                                                                          \
#fn, fn                                                                \
    }
#define HT_IT_MAIN(...)                                                        \
    int main(int argc, char **argv)                                            \
    {                                                                          \
        static const struct ht_it_case cases[] = {__VA_ARGS__, {0, 0}};        \
        return ht_it_main(argc, argv, cases);                                  \
    }
int ht_it_main(int argc, char **argv, const struct ht_it_case *cases);

/* Fail the case: print file:line and the message, kill children, exit 1. */
void ht_it_fail(struct ht_it *t, const char *file, int line, const char *fmt,
                ...) __attribute__((format(printf, 4, 5), noreturn));
/* Like ht_it_fail, naming the failed condition; the optional message is a
 * format string and its arguments. */
void ht_it_failc(struct ht_it *t, const char *file, int line, const char *cond,
                 const char *fmt, ...)
    __attribute__((format(printf, 5, 6), noreturn));
#define HT_CHECK(t, cond, ...)                                                 \
    do {                                                                       \
        if (!(cond))                                                           \
            ht_it_failc((t), __FILE__, __LINE__, #cond, " " __VA_ARGS__);      \
    } while (0)
/* Poll cond every 20 ms until true or timeout_ms passed; fail if not. */
#define HT_WAIT(t, cond, timeout_ms, ...)                                      \
    do {                                                                       \
        int waited_ = 0;                                                       \
        while (!(cond)) {                                                      \
            if (waited_ >= (timeout_ms))                                       \
                ht_it_failc((t), __FILE__, __LINE__, "(timed out) " #cond,     \
                            " " __VA_ARGS__);                                  \
            ht_it_sleep_ms(20);                                                \
            waited_ += 20;                                                     \
        }                                                                      \
    } while (0)
void ht_it_log(struct ht_it *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ht_it_sleep_ms(int ms);

/* The case's temporary directory (removed when the case passes, kept and
 * printed when it fails). */
const char *ht_it_dir(struct ht_it *t);
/* Path of a file in the case's directory (new string, caller frees). */
char *ht_it_path(struct ht_it *t, const char *name);
/* Path of a built binary: $HT_BIN_DIR/name (static buffer per call site is
 * not used: returns new string, caller frees). */
char *ht_it_bin(const char *name);
/* Repository root ($HT_SRC_DIR, default "."), for fixtures. */
const char *ht_it_src(void);
/* Write a file in the case directory; returns its new path (caller frees). */
char *ht_it_write(struct ht_it *t, const char *name, const char *content);

/* A free TCP port on 127.0.0.1 (bound then released; callers retry on a
 * bind race). */
int ht_it_free_port(void);
/* True once something accepts on 127.0.0.1:port within timeout_ms. */
bool ht_it_wait_port(int port, int timeout_ms);

/* ---- processes ---- */
/* Start argv (argv[0] a path) with stdout+stderr to DIR/<logname>.log and
 * extra environment entries env ("K=V", NULL-terminated, may be NULL). */
pid_t ht_it_spawn(struct ht_it *t, const char *logname,
                  const char *const argv[], const char *const env[]);
/* Send sig, wait up to timeout_ms; returns the wait status, or -1 if it did
 * not exit (then it is SIGKILLed). The pid is forgotten either way. */
int ht_it_stop(struct ht_it *t, pid_t pid, int sig, int timeout_ms);
/* True if pid is still running (reaps it if it exited). */
bool ht_it_alive(struct ht_it *t, pid_t pid);
/* Run argv to completion (timeout_ms), capture stdout into *out (new,
 * may be NULL) and stderr into *err_out (new, may be NULL). Returns the
 * exit code, or -1 on timeout/signal. */
int ht_it_run(struct ht_it *t, const char *const argv[],
              const char *const env[], int timeout_ms, char **out,
              char **err_out);
/* The first start's admin token of the gateway with data_dir (borrowed)
 * into out (outlen bytes, without its newline); waits up to 5 s for the
 * file, then fails the case if it is missing or empty. */
void ht_it_admin_token(struct ht_it *t, const char *data_dir, char *out,
                       size_t outlen);
/* Contents of DIR/<logname>.log (new string) for diagnostics. */
char *ht_it_logfile(struct ht_it *t, const char *logname);

/* ---- broker ---- */
struct ht_it_broker {
    int port;
    pid_t pid;
    char conf[256];          /* path of the generated config */
    char user[32], pass[40]; /* the account clients use */
};
/* Start a real mosquitto on a free loopback port, config lines
 * "listener PORT 127.0.0.1", "allow_anonymous false", a password file
 * with one account (b->user, b->pass), "persistence false" plus extra (may
 * be NULL). Waits until it accepts. The account is also put into this
 * process's environment as HOLOTWIN_MQTT_USERNAME / HOLOTWIN_MQTT_PASSWORD
 * (every daemon started afterwards uses it when its config names no
 * user), and ht_it_mqtt_new uses it for this port when given no user. */
void ht_it_broker_start(struct ht_it *t, struct ht_it_broker *b,
                        const char *extra_conf);
/* Stop (SIGTERM) and, for restart, start again on the same port. */
void ht_it_broker_stop(struct ht_it *t, struct ht_it_broker *b);
void ht_it_broker_restart(struct ht_it *t, struct ht_it_broker *b);

/* ---- HTTP (HTTP/1.1, one request per connection) ---- */
struct ht_it_http {
    int status;
    char *headers; /* raw header block */
    char *body;    /* NUL-terminated */
    size_t len;
};
/* Send a request to 127.0.0.1:port. extra_headers: full lines each ending
 * in "\r\n" (may be NULL); body may be NULL. Returns 0 or -errno (fails the
 * case only if the caller checks). */
int ht_it_http(int port, const char *method, const char *path,
               const char *extra_headers, const char *body,
               struct ht_it_http *out);
/* Value of a response header (case-insensitive), new string or NULL. */
char *ht_it_http_header(const struct ht_it_http *r, const char *name);
/* Parse the body as JSON (new reference) or NULL. */
json_t *ht_it_http_json(const struct ht_it_http *r);
void ht_it_http_free(struct ht_it_http *r);

/* One request with the header lines hdr (may be NULL): the status (-1 on
 * a connection error) and, when out is not NULL, the body as JSON (new, or
 * NULL). */
int ht_it_call(int port, const char *hdr, const char *method, const char *path,
               const char *body, json_t **out);
/* A new token of role named name, made with admin_hdr: its
 * "Authorization: Bearer ...\r\n" line (new). Fails the case otherwise. */
char *ht_it_token(struct ht_it *t, int port, const char *admin_hdr,
                  const char *role, const char *name);

/* ---- Server-Sent Events client ---- */
struct ht_it_sse;
struct ht_it_sse *ht_it_sse_open(int port, const char *path,
                                 const char *extra_headers);
/* Next event within timeout_ms: returns 1 and fills new strings (any of the
 * out pointers may be NULL), 0 on timeout, -1 on EOF/error. */
int ht_it_sse_next(struct ht_it_sse *s, int timeout_ms, char **event,
                   char **data, char **id);
int ht_it_sse_status(const struct ht_it_sse *s);
/* The data (parsed, new) of the next event named type whose data contains
 * needle (NULL: any) within timeout_ms; other events are skipped. Fails
 * the case on timeout or when the stream ends. */
json_t *ht_it_sse_wait(struct ht_it *t, struct ht_it_sse *s, const char *type,
                       const char *needle, int timeout_ms);
void ht_it_sse_close(struct ht_it_sse *s);

/* ---- MQTT 5 test client (libmosquitto with its own thread) ---- */
struct ht_it_mqtt;
/* Connect to 127.0.0.1:port; user/pass may be NULL (anonymous, or the
 * harness account when port is a harness broker's). NULL on failure. */
struct ht_it_mqtt *ht_it_mqtt_new(int port, const char *client_id,
                                  const char *user, const char *pass);
/* The same with a retained QoS 1 Will (will_topic, will_payload). */
struct ht_it_mqtt *ht_it_mqtt_new_will(int port, const char *client_id,
                                       const char *user, const char *pass,
                                       const char *will_topic,
                                       const char *will_payload);
/* Subscribe at QoS 1 and wait for the SUBACK; returns the granted QoS
 * (>= 128 means refused) or -1. */
int ht_it_mqtt_sub(struct ht_it_mqtt *c, const char *pattern);
/* Publish and, for qos > 0, wait for completion; returns 0 for every MQTT 5
 * success reason code (0, 16 no matching subscribers), the failure reason
 * code (135 not authorized, ...) or -1. */
int ht_it_mqtt_pub(struct ht_it_mqtt *c, const char *topic, const char *payload,
                   int qos, bool retain);
/* Publish a request with response-topic and correlation data (corr string);
 * wait for the reply on resp_topic (subscribed first). Returns new payload
 * string or NULL on timeout. */
char *ht_it_mqtt_request(struct ht_it_mqtt *c, const char *topic,
                         const char *payload, const char *resp_topic,
                         const char *corr, int timeout_ms);
/* Wait for a message whose topic matches pattern (MQTT wildcards) and
 * whose payload contains needle (NULL = any), received at any time since
 * the client subscribed. Returns new payload copy or NULL on timeout. */
char *ht_it_mqtt_wait(struct ht_it_mqtt *c, const char *pattern,
                      const char *needle, int timeout_ms);
/* Messages received so far matching pattern. */
size_t ht_it_mqtt_count(struct ht_it_mqtt *c, const char *pattern);
/* How often the broker closed this client's connection so far (libmosquitto
 * reconnects on its own: a taken-over session shows up here). */
unsigned ht_it_mqtt_disconnects(struct ht_it_mqtt *c);
/* Forget received messages. */
void ht_it_mqtt_clear(struct ht_it_mqtt *c);
void ht_it_mqtt_free(struct ht_it_mqtt *c);
/* Disconnect so that the broker publishes the Will (as when the
 * connection is lost), then free. */
void ht_it_mqtt_drop(struct ht_it_mqtt *c);

/* ---- a sim board's control socket (device-agent --control PATH) ---- */
/* Send the line cmd ("press start_button", "get lamp", ...) and return the
 * reply line without its newline (new). Fails the case if it cannot
 * connect. */
char *ht_it_ctl(struct ht_it *t, const char *path, const char *cmd);

/* ---- a board's credentials from gatewayd (provisioning is the default) */
struct ht_it_creds {
    char user[65];
    char pass[129];
    int port;     /* the broker's plain (loopback) port */
    int tls_port; /* its TLS port, 0 if none */
    char ca[512]; /* the CA certificate from the answer, written to the
                     case directory ("" if none) */
    char *config; /* `gwctl devices add`-style answer JSON text (new) */
};
/* POST /api/v1/devices {"id": id} on 127.0.0.1:http_port with auth_hdr
 * ("Authorization: Bearer ...\r\n"); on 201 fill *out (free its config
 * with free()). Returns the HTTP status (or -1). */
int ht_it_provision(struct ht_it *t, int http_port, const char *auth_hdr,
                    const char *id, struct ht_it_creds *out);

/* ---- real mDNS ---- */
/* A private network namespace in which the case process itself then runs
 * (loopback up, multicast on), with two avahi-daemons restricted to lo,
 * each on its own private D-Bus system bus: daemon A publishes address
 * records, daemon B only browses, so a service published through one and
 * found through the other really crossed mDNS on the wire. Everything the
 * case starts afterwards (broker, daemons) lives in that namespace; spawn
 * daemons with env {m.bus_a, NULL} or {m.bus_b, NULL}. Fails the case with
 * the reason when the machine does not allow it (needs root, iproute2,
 * dbus-daemon, avahi-daemon). Torn down when the case ends. */
struct ht_it_mdns {
    char netns[32];
    char bus_a[300]; /* "DBUS_SYSTEM_BUS_ADDRESS=unix:path=..." */
    char bus_b[300];
};
void ht_it_mdns_start(struct ht_it *t, struct ht_it_mdns *m);
/* Browse type (e.g. "_wot._tcp") through daemon B for up to timeout_ms
 * with avahi-browse -rpt; returns its parseable output (new) or NULL. */
char *ht_it_mdns_browse(struct ht_it *t, struct ht_it_mdns *m, const char *type,
                        const char *needle, int timeout_ms);

/* ---- the virtual-factory demo ---- */
/* scripts/demo (what `make demo` runs) on free ports with --no-mdns and a
 * data dir in the case directory: gatewayd with its own secure broker,
 * the three provisioned sim boards over TLS and the press-line twin.
 * Returns once the demo printed its URLs; fills the operator token it
 * printed and the admin token. Stopped (SIGINT) when the case ends. */
struct ht_it_demo {
    pid_t pid;
    int http, mqtt, mqtts;
    char data[512];
    char token[160]; /* the demo's operator token */
    char admin[160]; /* DATA/admin.token */
};
void ht_it_demo_start(struct ht_it *t, struct ht_it_demo *d);
/* Give the running case seconds more before HT_IT_TIMEOUT fires (cases
 * that run the demo and third-party checkers). */
void ht_it_timeout(struct ht_it *t, unsigned seconds);

/* ---- node tools (tests/node_modules) ---- */
/* Run `node tests/tools/<script> args...` with the case dir as cwd-free
 * argument; returns exit code and captures combined output into *out. */
int ht_it_node(struct ht_it *t, const char *script, const char *const args[],
               int timeout_ms, char **out);

#endif
