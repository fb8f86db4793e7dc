/* test_agent_mdns.c - the device agent's DNS-SD over real mDNS: its
 * _wot._tcp service (TXT td=/.well-known/wot, type=Thing) is found through
 * another avahi-daemon, a name collision is resolved by renaming, and with
 * no broker configured it finds one by browsing _mqtt._tcp. Runs in the
 * harness's private network namespace with two avahi-daemons on lo; fails
 * (never skips) when the machine cannot provide that. */
#include "harness.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static pid_t spawn_agent(struct ht_it *t, const char *logname, const char *bus,
                         const char *const extra[])
{
    char *bin = ht_it_bin("device-agent");
    const char *argv[24] = {bin, "--sim", "--mdns", "--log-level", "debug"};
    size_t n = 5;
    for (; extra && *extra && n < 23; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    const char *env[] = {bus, NULL};
    pid_t pid = ht_it_spawn(t, logname, argv, env);
    free(bin);
    return pid;
}

static void wot_service_is_published_with_txt_and_port(struct ht_it *t)
{
    struct ht_it_mdns m;
    ht_it_mdns_start(t, &m);
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    char broker[64], hp[16];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", b.port);
    int port = ht_it_free_port();
    snprintf(hp, sizeof hp, "%d", port);
    const char *extra[] = {"--broker",    broker, "--id", "mdns-1",
                           "--http-port", hp,     NULL};
    pid_t a = spawn_agent(t, "agent", m.bus_a, extra);
    char *out = ht_it_mdns_browse(t, &m, "_wot._tcp", "mdns-1", 10000);
    HT_CHECK(t, out != NULL, "mdns-1 not found through daemon B: %s",
             ht_it_logfile(t, "agent"));
    HT_CHECK(t, strstr(out, "td=/.well-known/wot") && strstr(out, "type=Thing"),
             "TXT records: %s", out);
    HT_CHECK(t, strstr(out, hp), "port %s not in %s", hp, out);
    free(out);
    /* The advertised endpoint serves the TD. */
    struct ht_it_http r;
    HT_CHECK(t,
             ht_it_http(port, "GET", "/.well-known/wot", NULL, NULL, &r) == 0);
    HT_CHECK(t,
             r.status == 200 && strstr(r.body, "urn:holotwin:device:mdns-1"));
    ht_it_http_free(&r);
    int st = ht_it_stop(t, a, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d",
             st);
}

static void name_collision_is_resolved_by_renaming(struct ht_it *t)
{
    struct ht_it_mdns m;
    ht_it_mdns_start(t, &m);
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    char cfg[512];
    const char *ids[] = {"twin-a", "twin-b"};
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        snprintf(cfg, sizeof cfg,
                 "{\"id\":\"%s\",\"mqtt\":{\"broker\":\"127.0.0.1:%d\"},"
                 "\"mdns\":{\"enabled\":true,\"name\":\"same-board\"},"
                 "\"capabilities\":[{\"name\":\"lamp\",\"kind\":\"output\","
                 "\"type\":\"ht:Lamp\",\"line\":0}]}",
                 ids[i], b.port);
        char name[32];
        snprintf(name, sizeof name, "%s.json", ids[i]);
        char *path = ht_it_write(t, name, cfg);
        const char *extra[] = {"--config", path, NULL};
        pids[i] = spawn_agent(t, ids[i], m.bus_a, extra);
        free(path);
        if (i == 0) {
            char *o =
                ht_it_mdns_browse(t, &m, "_wot._tcp", "same-board", 10000);
            HT_CHECK(t, o != NULL, "first agent not published");
            free(o);
        }
    }
    char *out = ht_it_mdns_browse(t, &m, "_wot._tcp", "same-board\\032", 10000);
    HT_CHECK(t, out != NULL, "no renamed service; logs: %s",
             ht_it_logfile(t, "twin-b"));
    free(out);
    for (int i = 0; i < 2; i++)
        HT_CHECK(t, ht_it_stop(t, pids[i], SIGTERM, 10000) == 0);
}

static void without_a_broker_it_browses_mqtt_and_connects(struct ht_it *t)
{
    struct ht_it_mdns m;
    ht_it_mdns_start(t, &m);
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    char port[16];
    snprintf(port, sizeof port, "%d", b.port);
    /* The broker is announced through daemon A; the agent asks daemon B. */
    const char *pub[] = {"/usr/bin/avahi-publish",
                         "-s",
                         "test broker",
                         "_mqtt._tcp",
                         port,
                         NULL};
    const char *env[] = {m.bus_a, NULL};
    ht_it_spawn(t, "avahi-publish", pub, env);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "obs", NULL, NULL);
    HT_CHECK(t, ht_it_mqtt_sub(c, "holotwin/v1/devices/found-1/status") == 1);
    const char *extra[] = {"--id", "found-1", NULL};
    pid_t a = spawn_agent(t, "agent", m.bus_b, extra);
    char *on = ht_it_mqtt_wait(c, "holotwin/v1/devices/found-1/status",
                               "online", 20000);
    HT_CHECK(t, on != NULL, "agent never reached the broker found by mDNS: %s",
             ht_it_logfile(t, "agent"));
    free(on);
    ht_it_mqtt_free(c);
    HT_CHECK(t, ht_it_stop(t, a, SIGTERM, 10000) == 0);
}

/* The pid of the avahi-daemon the harness started with conf (0 if none). */
static pid_t find_daemon(const char *conf)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    pid_t found = 0;
    while (d && (e = readdir(d)) && !found) {
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        if (!strncmp(buf, "/usr/sbin/avahi-daemon", 22) && strstr(buf, conf))
            found = (pid_t)atoi(e->d_name);
    }
    if (d)
        closedir(d);
    return found;
}

static void service_comes_back_after_avahi_daemon_restart(struct ht_it *t)
{
    struct ht_it_mdns m;
    ht_it_mdns_start(t, &m);
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    char broker[64];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", b.port);
    const char *extra[] = {"--broker", broker, "--id", "phoenix-1", NULL};
    pid_t a = spawn_agent(t, "agent", m.bus_a, extra);
    char *out = ht_it_mdns_browse(t, &m, "_wot._tcp", "phoenix-1", 10000);
    HT_CHECK(t, out != NULL, "not published before the restart");
    free(out);

    char conf[400];
    snprintf(conf, sizeof conf, "%s/mdnsa/avahi.conf", ht_it_dir(t));
    pid_t d = find_daemon(conf);
    HT_CHECK(t, d > 0, "cannot find the avahi-daemon running %s", conf);
    HT_CHECK(t, kill(d, SIGTERM) == 0);
    HT_WAIT(t, !ht_it_alive(t, d), 10000, "avahi-daemon %d did not stop",
            (int)d);
    /* Gone from the other daemon's view (goodbye packets, no resolver). */
    for (int i = 0; i < 20; i++) {
        out = ht_it_mdns_browse(t, &m, "_wot._tcp", "phoenix-1", 500);
        if (!out)
            break;
        free(out);
        out = NULL;
    }
    HT_CHECK(t, out == NULL,
             "service still resolvable with its daemon stopped");
    HT_CHECK(t, ht_it_alive(t, a), "agent died with the daemon");

    char script[800];
    snprintf(script, sizeof script,
             "mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs "
             "/run/avahi-daemon && "
             "exec /usr/sbin/avahi-daemon -f %s --no-drop-root --no-chroot "
             "--no-rlimits "
             "--no-proc-title",
             conf);
    const char *argv[] = {"/usr/bin/unshare", "-m", "--propagation", "private",
                          "/bin/sh",          "-c", script,          NULL};
    const char *env[] = {m.bus_a, NULL};
    ht_it_spawn(t, "avahi-restarted", argv, env);
    out = ht_it_mdns_browse(t, &m, "_wot._tcp", "phoenix-1", 15000);
    HT_CHECK(t, out != NULL, "not registered again after the restart: %s",
             ht_it_logfile(t, "agent"));
    HT_CHECK(t, strstr(out, "td=/.well-known/wot"), "%s", out);
    free(out);
    HT_CHECK(t, ht_it_stop(t, a, SIGTERM, 10000) == 0);
}

HT_IT_MAIN(HT_IT_CASE(wot_service_is_published_with_txt_and_port),
           HT_IT_CASE(name_collision_is_resolved_by_renaming),
           HT_IT_CASE(without_a_broker_it_browses_mqtt_and_connects),
           HT_IT_CASE(service_comes_back_after_avahi_daemon_restart))
