/* bench_mhd.c - the reference HTTP server: libmicrohttpd answering one
 * constant body with keep-alive. Its req/s under wrk is the ceiling of our
 * HTTP stack on this machine; gatewayd's REST reads are compared with it.
 *
 * It answers on the access handler's SECOND call: answering on the first
 * makes MHD 0.9.75 send "Connection: close" and keep-alive dies (about 3x
 * fewer req/s; see ../shared/recipes, libmicrohttpd section).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *ver, const char *data, size_t *sz,
                               void **req_cls)
{
    (void)url;
    (void)method;
    (void)ver;
    (void)data;
    (void)sz;
    static int first_call_seen; /* address used as a marker only */
    if (*req_cls != &first_call_seen) {
        *req_cls = &first_call_seen;
        return MHD_YES;
    }
    struct MHD_Response *r = cls;
    return MHD_queue_response(c, MHD_HTTP_OK, r);
}

static void usage(FILE *f)
{
    fprintf(
        f, "usage: bench_mhd [--port N] [--size BYTES | --body-file F]\n"
           "                 [--threads N]\n"
           "Minimal libmicrohttpd server (loopback) answering a constant JSON\n"
           "body with keep-alive. --threads 0 (default): one internal epoll\n"
           "thread; N > 0: a thread pool of N. Stops on SIGTERM/SIGINT.\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"port", 1, 0, 'p'},    {"size", 1, 0, 's'}, {"body-file", 1, 0, 'f'},
        {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int port = 18080, size = 64, threads = 0, c;
    const char *file = NULL;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'p':
            port = atoi(optarg);
            break;
        case 's':
            size = atoi(optarg);
            break;
        case 'f':
            file = optarg;
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || size < 2 || size > 16 << 20 ||
        threads < 0 || threads > 64) {
        fprintf(stderr, "bench_mhd: bad --port, --size or --threads\n");
        return 2;
    }
    char *body;
    size_t len;
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) {
            perror(file);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        body = malloc((size_t)n + 1);
        len = fread(body, 1, (size_t)n, f);
        fclose(f);
    } else {
        /* a JSON string of the requested size */
        len = (size_t)size;
        body = malloc(len + 1);
        memset(body, 'x', len);
        body[0] = '"';
        body[len - 1] = '"';
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");

    /* block the stop signals before MHD starts its threads: sigwait */
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d;
    if (threads > 0)
        d = MHD_start_daemon(
            flags, (uint16_t)port, NULL, NULL, handler, r, MHD_OPTION_SOCK_ADDR,
            &sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
            MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_END);
    else
        d = MHD_start_daemon(
            flags, (uint16_t)port, NULL, NULL, handler, r, MHD_OPTION_SOCK_ADDR,
            &sa, MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_mhd: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    fprintf(stderr, "bench_mhd: 127.0.0.1:%d, %zu-byte body\n", port, len);
    int sig;
    sigwait(&ss, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(r);
    free(body);
    return 0;
}
