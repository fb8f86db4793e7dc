/* bench_js.c - the reference publisher of the fleet benchmark: what the
 * NATS JetStream cluster itself accepts from one client on this machine,
 * publishing the way gatewayd's upstream does (libnats, asynchronous
 * JetStream publishes with at most 256 in flight, a Nats-Msg-Id on each,
 * every ack awaited). The gateway's forwarded records/s are compared with
 * this rate.
 *
 *   bench_js --servers URLS [--user U --pass P] [--stream NAME]
 *            [--subject SUBJ] [--count N] [--size BYTES] [--replicas R]
 *
 * Creates the stream (subjects site.>) if missing. Prints one JSON line:
 * {"count","acked","failed","seconds","rate"}.
 */
#include "bench_util.h"

#include <getopt.h>
#include <nats/nats.h>
#include <stdlib.h>
#include <string.h>

struct acks {
    long ok, fail; /* written by libnats' thread (atomics) */
};

static void on_ack(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae,
                   void *ud)
{
    (void)js;
    struct acks *a = ud;
    if (pa && !pae)
        __atomic_add_fetch(&a->ok, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&a->fail, 1, __ATOMIC_RELAXED);
    natsMsg_Destroy(m);
}

int main(int argc, char **argv)
{
    const char *servers = NULL, *user = NULL, *pass = NULL;
    const char *stream = "HOLOTWIN", *subject = "site.bench.cell.ref.audit";
    long count = 20000, size = 200, replicas = 3;
    static const struct option opts[] = {
        {"servers", 1, 0, 's'}, {"user", 1, 0, 'u'},     {"pass", 1, 0, 'p'},
        {"stream", 1, 0, 'S'},  {"subject", 1, 0, 'j'},  {"count", 1, 0, 'n'},
        {"size", 1, 0, 'z'},    {"replicas", 1, 0, 'r'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            servers = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'p':
            pass = optarg;
            break;
        case 'S':
            stream = optarg;
            break;
        case 'j':
            subject = optarg;
            break;
        case 'n':
            count = atol(optarg);
            break;
        case 'z':
            size = atol(optarg);
            break;
        case 'r':
            replicas = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_js --servers URLS ...\n");
            return 2;
        }
    }
    if (!servers || count < 1 || size < 1 || size > 1000000) {
        fprintf(stderr, "bench_js: --servers is required\n");
        return 2;
    }
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    struct acks a = {0};
    natsOptions_Create(&o);
    char *list = strdup(servers), *save = NULL;
    const char *v[16];
    int nv = 0;
    for (char *t = strtok_r(list, ",", &save); t && nv < 16;
         t = strtok_r(NULL, ",", &save))
        v[nv++] = t;
    natsOptions_SetServers(o, v, nv);
    if (user)
        natsOptions_SetUserInfo(o, user, pass ? pass : "");
    natsStatus s = natsConnection_Connect(&nc, o);
    if (s != NATS_OK) {
        fprintf(stderr, "bench_js: connect: %s\n", natsStatus_GetText(s));
        return 1;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 256;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = &a;
    natsConnection_JetStream(&js, nc, &jo);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subj[] = {"site.>"};
    cfg.Name = stream;
    cfg.Subjects = subj;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas;
    cfg.Duplicates = 600LL * 1000000000LL;
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    for (int k = 0; k < 100; k++) {
        if (js_GetStreamInfo(&si, js, stream, NULL, &je) == NATS_OK ||
            js_AddStream(&si, js, &cfg, NULL, &je) == NATS_OK)
            break;
        nats_Sleep(200);
    }
    jsStreamInfo_Destroy(si);
    char *buf = malloc((size_t)size);
    memset(buf, 'x', (size_t)size);
    uint64_t t0 = bench_now_ns(), tag = t0;
    for (long i = 0; i < count; i++) {
        natsMsg *m = NULL;
        char id[48];
        snprintf(id, sizeof id, "ref-%llu-%ld", (unsigned long long)tag, i);
        natsMsg_Create(&m, subject, NULL, buf, (int)size);
        natsMsgHeader_Set(m, "Nats-Msg-Id", id);
        if (js_PublishMsgAsync(js, &m, NULL) != NATS_OK) {
            natsMsg_Destroy(m);
            a.fail++;
        }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    js_PublishAsyncComplete(js, &po);
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    printf("{\"count\":%ld,\"acked\":%ld,\"failed\":%ld,\"seconds\":%.3f,"
           "\"rate\":%.0f}\n",
           count, a.ok, a.fail, secs, secs > 0 ? (double)a.ok / secs : 0);
    free(buf);
    free(list);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    nats_Close();
    return 0;
}
