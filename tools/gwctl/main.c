/* main.c - gwctl: global options, configuration precedence and the
 * subcommand table. Precedence: flags > environment (HOLOTWIN_GATEWAY,
 * HOLOTWIN_TOKEN) > ~/.config/holotwin/gwctl.json > defaults. */
#include "gwctl.h"

#include "ht_mem.h"
#include "ht_util.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GW_DEFAULT_URL "http://127.0.0.1:8080"

static int cmd_help(struct gwctl *g, int argc, char **argv);

static const struct gwctl_cmd cmds[] = {
    {"status", gw_cmd_status, "status",
     "gateway health, broker, device counts by state, version",
     "Reads /healthz (open) and, with a token, the device list for counts.\n"},
    {"discover", gw_cmd_discover, "discover [--timeout S]",
     "boards announcing _wot._tcp on the local network (mDNS), known or new",
     "  --timeout S   browse for S seconds (default 3)\n"
     "Needs a running avahi-daemon (exit 4 without one). Each board's TD is\n"
     "fetched from its TXT td= path to learn its id, which is compared with\n"
     "the gateway's device list: known (with its state) or new.\n"},
    {"devices", gw_cmd_devices,
     "devices [list | show ID | approve ID | block ID | remove ID]\n"
     "       gwctl devices add ID [-o FILE] [--backend sim|gpiod]",
     "list, inspect, pre-register and manage devices",
     "  add ID        pre-register ID; the gateway provisions its MQTT\n"
     "                credentials (shown once) and gwctl prints a ready\n"
     "                device-agent config, or writes it (mode 0600) to FILE\n"
     "  --backend B   GPIO backend of the generated config (default sim)\n"},
    {"get", gw_cmd_get, "get DEVICE PROP | get TWIN COMPONENT.PROP",
     "read a device property, or a twin property when PROP has a dot",
     "Device property names never contain a dot, so COMPONENT.PROP always\n"
     "means a twin property (the same as `gwctl twins get`).\n"},
    {"set", gw_cmd_set, "set DEVICE PROP VALUE | set TWIN COMPONENT.PROP VALUE",
     "write a property and wait for the device's ack",
     "VALUE is parsed as JSON (true, 42, 1.5, \"text\", {...}); anything that\n"
     "is not JSON is sent as a string. Prints the confirmed value; exit 5\n"
     "when the device rejects the write, is offline or does not ack.\n"},
    {"twins", gw_cmd_twins,
     "twins [list | show ID | apply -f FILE | delete ID | state ID [--at T]]\n"
     "       gwctl twins history ID COMPONENT.PROP [--from T] [--to T] "
     "[--step D] [--limit N] [--csv]\n"
     "       gwctl twins get ID COMPONENT.PROP | twins set ID COMPONENT.PROP "
     "VALUE\n"
     "       gwctl twins export --aas ID\n"
     "       gwctl twins control ID [take | release] [--force]",
     "list, inspect, apply and delete twins; state, history, properties, "
     "AAS export, control",
     "  apply -f FILE  create or replace the twin whose \"id\" is in FILE\n"
     "                 (- reads standard input)\n"
     "  state --at T   the twin as it was at T, rebuilt from the history\n"
     "  --step D       buckets of D (500ms, 30s, 5m, 1h): mean, min, max, n\n"
     "                 (1-minute and 1-hour rollups answer when D is a\n"
     "                 multiple of them)\n"
     "  --csv          the gateway's CSV export (ts,time,value,min,max,n)\n"
     "  export --aas   the twin as an Asset Administration Shell V3\n"
     "                 environment (JSON): a shell per machine, nameplate,\n"
     "                 asset interfaces from the TDs\n"
     "  T              ms since the epoch, now, -30s, -5m, -2h, -7d, or\n"
     "                 YYYY-MM-DD[THH:MM[:SS]] in local time (Z: UTC)\n"
     "  control        who controls the twin; take or release it (--force:\n"
     "                 a technician takes it from its holder, audited)\n"},
    {"bind", gw_cmd_bind, "bind TWIN COMPONENT.PROP DEVICE/PROP",
     "bind a twin property to a device property (read, modify, write back)",
     NULL},
    {"ui", gw_cmd_ui, "ui TWIN [--target web|hmd] [--raw]",
     "a twin's UI descriptor: pretty (default) or the raw bytes",
     "  --target T  web (default) or hmd\n"
     "  --raw       the exact bytes the gateway serves (the ETag covers them)\n"
     "  --json      {\"twin\",\"target\",\"etag\",\"descriptor\"}\n"},
    {"watch", gw_cmd_watch, "watch [TWIN] [--count N]",
     "live events (SSE), one line each, until Ctrl-C",
     "  --count N   stop after N events\n"
     "Reconnects with Last-Event-ID when the stream drops.\n"},
    {"tokens", gw_cmd_tokens,
     "tokens [list | create --role ROLE --name NAME | revoke ID]",
     "API tokens (admin): roles viewer, operator, technician, admin",
     "The token of `create` is shown once.\n"},
    {"audit", gw_cmd_audit,
     "audit [--device ID] [--action A] [--result R] [--who NAME]\n"
     "       [--from T] [--to T] [--limit N]",
     "the audit log (technician): who commanded what, when, the outcome",
     "  --action A   write, twin-write, approve, block, delete, register, ...\n"
     "  --result R   ok, timeout, expired, offline, ... (the outcome code)\n"
     "  --who NAME   the name of the token that made the request\n"
     "  T            ms since the epoch, now, -30s, -5m, -2h, -7d, or\n"
     "               YYYY-MM-DD[THH:MM[:SS]] in local time (Z: UTC)\n"
     "  --limit N    at most N records (default 100), newest first\n"
     "A command the device acknowledged after its timeout shows the late\n"
     "ack next to the timeout: `timeout (late ack: expired)`.\n"},
    {"alarms", gw_cmd_alarms,
     "alarms [list] [--twin T] [--state S] [--priority P] [--all]\n"
     "       gwctl alarms history [--twin T] [--rule R] [--from T] [--to T] "
     "[--limit N]\n"
     "       gwctl alarms watch [TWIN] [--count N]\n"
     "       gwctl alarms ack|unshelve|out-of-service|in-service TWIN:RULE "
     "[--note TEXT]\n"
     "       gwctl alarms shelve TWIN:RULE --for DURATION [--note TEXT]",
     "alarms (ISA-18.2): list, history, watch, acknowledge, shelve",
     "  list          alarms that are not normal, most urgent first (--all:\n"
     "                every alarm); S a life-cycle state, P a priority\n"
     "  history       every transition from the alarm journal, newest first\n"
     "  watch         alarm transitions as they happen (SSE), until Ctrl-C\n"
     "  ack           acknowledge (operator); shelve for DURATION (90s, 30m,\n"
     "                8h; at most 24 h) and unshelve (operator);\n"
     "                out-of-service and in-service (technician)\n"
     "Exit 3 when the alarm's state refuses the command (e.g. nothing to\n"
     "acknowledge) or the token's role may not do it.\n"},
    {"backup", gw_cmd_backup, "backup FILE",
     "save a backup of the running gateway (admin) to FILE",
     "The gateway's database (SQLite online backup: it keeps running) and\n"
     "its broker credentials, as one SQLite file, mode 0600. Restore it with\n"
     "`gatewayd --restore FILE` into an empty data directory.\n"},
    {"accounts", gw_cmd_accounts,
     "accounts [list | add NAME --role viewer|operator [-o FILE] | "
     "remove NAME]",
     "MQTT accounts for apps (admin): viewer reads twins, operator commands",
     "  add NAME      create the account; its password (shown once), the\n"
     "                broker's TLS address, the CA certificate and its\n"
     "                topics are printed, or written (mode 0600) to FILE\n"
     "  --role R      viewer: reads PREFIX/twins/#; operator: also sends\n"
     "                commands on its request topic (checked, audited and\n"
     "                answered by the gateway like PUT over REST)\n"},
    {"help", cmd_help, "help [COMMAND]", "show help for a command", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: gwctl [--gateway URL] [--token TOKEN] [--json] COMMAND [ARGS]\n"
        "\nThe technicians' CLI of a Holotwin gateway.\n\ncommands:\n");
    for (const struct gwctl_cmd *c = cmds; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->help);
    fprintf(out,
            "\noptions (accepted anywhere on the line):\n"
            "  --gateway URL   gateway base URL (env HOLOTWIN_GATEWAY; default "
            "%s)\n"
            "  --token TOKEN   bearer token (env HOLOTWIN_TOKEN)\n"
            "  --json          machine-readable output\n"
            "  --timeout S     request timeout in seconds (default 30)\n"
            "\n`gwctl help COMMAND` or `gwctl COMMAND --help` for details.\n"
            "  --help, --version\n"
            "\nconfig file: ~/.config/holotwin/gwctl.json {\"gateway\":..., "
            "\"token\":...}\n"
            "exit codes: 0 ok, 1 usage, 2 not found, 3 refused/unauthorised,\n"
            "            4 gateway unreachable, 5 device error or timeout\n",
            GW_DEFAULT_URL);
}

static const struct gwctl_cmd *find_cmd(const char *name)
{
    for (const struct gwctl_cmd *c = cmds; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

static void cmd_usage(const struct gwctl_cmd *c, FILE *out, bool full)
{
    fprintf(out, "usage: gwctl %s\n", c->usage);
    if (full) {
        fprintf(out, "%s\n", c->help);
        if (c->details)
            fprintf(out, "\n%s", c->details);
    }
}

/* Usage errors stay one line (the contract for every error): the first
 * usage line and where the rest is. */
int gw_usage(const char *cmd)
{
    const struct gwctl_cmd *c = find_cmd(cmd);
    if (c)
        fprintf(stderr, "usage: gwctl %.*s (see gwctl help %s)\n",
                (int)strcspn(c->usage, "\n"), c->usage, c->name);
    return GW_EXIT_USAGE;
}

bool gw_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

static int cmd_help(struct gwctl *g, int argc, char **argv)
{
    (void)g;
    if (argc < 2) {
        usage(stdout);
        return GW_EXIT_OK;
    }
    const struct gwctl_cmd *c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "gwctl: unknown command '%s'\n", argv[1]);
        return GW_EXIT_USAGE;
    }
    cmd_usage(c, stdout, true);
    return GW_EXIT_OK;
}

/* Read gateway/token defaults from the user's config file, if any. */
static void load_config_file(struct gwctl *g)
{
    const char *home = getenv("HOME");
    if (!home)
        return;
    char *path = ht_asprintf("%s/.config/holotwin/gwctl.json", home);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        if (access(path, F_OK) == 0)
            fprintf(stderr, "gwctl: %s:%d:%d: %s (ignored)\n", path, je.line,
                    je.column, je.text);
        free(path);
        return;
    }
    const char *gw = json_string_value(json_object_get(root, "gateway"));
    const char *tok = json_string_value(json_object_get(root, "token"));
    if (gw)
        g->gateway = g->owned[0] = ht_strdup(gw);
    if (tok)
        g->token = g->owned[1] = ht_strdup(tok);
    json_decref(root);
    free(path);
}

int main(int argc, char **argv)
{
    struct gwctl g = {.gateway = GW_DEFAULT_URL, .timeout_s = 30};
    load_config_file(&g);
    if (getenv("HOLOTWIN_GATEWAY") && *getenv("HOLOTWIN_GATEWAY"))
        g.gateway = getenv("HOLOTWIN_GATEWAY");
    if (getenv("HOLOTWIN_TOKEN") && *getenv("HOLOTWIN_TOKEN"))
        g.token = getenv("HOLOTWIN_TOKEN");
    g.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");

    /* Global options may appear anywhere; the rest keeps its order. */
    char **rest = ht_calloc((size_t)argc + 1, sizeof *rest);
    int n = 0, rc = GW_EXIT_OK;
    bool want_help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            g.json = true;
        } else if (!strcmp(a, "--gateway") || !strcmp(a, "--token") ||
                   !strcmp(a, "--timeout")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "gwctl: %s needs a value\n", a);
                rc = GW_EXIT_USAGE;
                goto out;
            }
            const char *v = argv[++i];
            if (a[2] == 'g')
                g.gateway = v;
            else if (a[2] == 't' && a[3] == 'o')
                g.token = v;
            else {
                char *end;
                g.timeout_s = strtol(v, &end, 10);
                g.timeout_set = true;
                if (*end || g.timeout_s <= 0 || g.timeout_s > 86400) {
                    fprintf(stderr, "gwctl: --timeout needs a number of "
                                    "seconds (1..86400)\n");
                    rc = GW_EXIT_USAGE;
                    goto out;
                }
            }
        } else if (!strncmp(a, "--gateway=", 10)) {
            g.gateway = a + 10;
        } else if (!strncmp(a, "--token=", 8)) {
            g.token = a + 8;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            want_help = true;
        } else if (!strcmp(a, "--version")) {
            printf("gwctl %s\n", HT_VERSION);
            goto out;
        } else {
            rest[n++] = argv[i];
        }
    }
    if (n == 0) {
        usage(want_help ? stdout : stderr);
        rc = want_help ? GW_EXIT_OK : GW_EXIT_USAGE;
        goto out;
    }
    const struct gwctl_cmd *c = find_cmd(rest[0]);
    if (!c) {
        fprintf(stderr, "gwctl: unknown command '%s' (try gwctl --help)\n",
                rest[0]);
        rc = GW_EXIT_USAGE;
        goto out;
    }
    if (want_help) {
        cmd_usage(c, stdout, true);
        goto out;
    }
    /* Strip one trailing slash so paths join cleanly. */
    size_t gl = strlen(g.gateway);
    char *base = ht_strdup(g.gateway);
    if (gl > 1 && base[gl - 1] == '/')
        base[gl - 1] = '\0';
    g.gateway = g.owned[2] = base;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = c->fn(&g, n, rest);
    curl_global_cleanup();
out:
    for (size_t i = 0; i < sizeof g.owned / sizeof g.owned[0]; i++)
        free(g.owned[i]);
    free(rest);
    return rc;
}
