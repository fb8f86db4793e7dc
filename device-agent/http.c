/* http.c - the agent's tiny read-only HTTP endpoint: GET /.well-known/wot
 * answers the TD (W3C WoT Discovery's well-known URI); everything else is
 * 404 or 405. It runs on the agent's loop with non-blocking sockets: a
 * board serves a handful of requests a day, not worth a thread or
 * libmicrohttpd's footprint. One request per connection, bounded sizes, a
 * 5 s deadline per client.
 */
#include "agent_internal.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX 4096
#define MAX_CLIENTS 16
#define CLIENT_TIMEOUT_MS 5000

struct http_client {
    struct agent_http *h;
    int fd;
    struct ht_io *io;
    struct ht_timer *deadline;
    char req[REQ_MAX + 1];
    size_t rlen;
    char *resp;
    size_t wlen, woff;
    struct http_client *next;
};

struct agent_http {
    struct ht_agent *a;
    int fd;
    int port;
    struct ht_io *io;
    struct http_client *clients;
    unsigned nclients;
};

static void client_close(struct http_client *c)
{
    struct http_client **pp = &c->h->clients;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    c->h->nclients--;
    ht_io_free(c->io);
    ht_timer_free(c->deadline);
    close(c->fd);
    free(c->resp);
    free(c);
}

static void respond(struct http_client *c, int status, const char *reason,
                    const char *ctype, const char *body, bool head)
{
    size_t blen = body ? strlen(body) : 0;
    c->resp = ht_asprintf("HTTP/1.1 %d %s\r\n"
                          "Content-Type: %s\r\n"
                          "Content-Length: %zu\r\n"
                          "Access-Control-Allow-Origin: *\r\n"
                          "Cache-Control: no-cache\r\n"
                          "%s"
                          "Connection: close\r\n\r\n%s",
                          status, reason, ctype, blen,
                          status == 405 ? "Allow: GET, HEAD\r\n" : "",
                          head || !body ? "" : body);
    c->wlen = strlen(c->resp);
    c->woff = 0;
    ht_io_set(c->io, HT_LOOP_WRITE);
}

/* Parse the request line once the header block is complete. */
static void handle(struct http_client *c)
{
    char method[16], target[512];
    if (sscanf(c->req, "%15s %511s HTTP/1.", method, target) != 2) {
        respond(c, 400, "Bad Request", "text/plain", "bad request\n", false);
        return;
    }
    bool head = !strcmp(method, "HEAD");
    if (strcmp(method, "GET") && !head) {
        respond(c, 405, "Method Not Allowed", "text/plain",
                "only GET is served here\n", false);
        return;
    }
    char *q = strchr(target, '?');
    if (q)
        *q = '\0';
    if (!strcmp(target, "/.well-known/wot") ||
        !strcmp(target, "/.well-known/wot-thing-description")) {
        respond(c, 200, "OK", "application/td+json", c->h->a->td_text, head);
        return;
    }
    respond(c, 404, "Not Found", "text/plain", "not found\n", head);
}

static void on_client(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    struct http_client *c = ud;
    if (c->resp) {
        if (!(ev & (HT_LOOP_WRITE | HT_LOOP_ERROR)))
            return;
        ssize_t w =
            send(fd, c->resp + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (w > 0)
            c->woff += (size_t)w;
        if (w <= 0 || c->woff == c->wlen)
            client_close(c);
        return;
    }
    ssize_t r = recv(fd, c->req + c->rlen, REQ_MAX - c->rlen, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        client_close(c);
        return;
    }
    c->rlen += (size_t)r;
    c->req[c->rlen] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
        handle(c);
    else if (c->rlen == REQ_MAX)
        respond(c, 431, "Request Header Fields Too Large", "text/plain",
                "request too large\n", false);
}

static void on_deadline(struct ht_timer *t, void *ud)
{
    (void)t;
    client_close(ud);
}

static void on_accept(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    (void)ev;
    struct agent_http *h = ud;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    if (h->nclients >= MAX_CLIENTS) {
        close(cfd);
        return;
    }
    struct http_client *c = ht_calloc(1, sizeof *c);
    c->h = h;
    c->fd = cfd;
    c->next = h->clients;
    h->clients = c;
    h->nclients++;
    c->io = ht_io_new(h->a->loop, cfd, HT_LOOP_READ, on_client, c);
    c->deadline = ht_timer_new(h->a->loop, on_deadline, c);
    ht_timer_start(c->deadline, CLIENT_TIMEOUT_MS, 0);
}

int agent__http_new(struct ht_agent *a, const char *bind_addr, int port,
                    struct agent_http **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, bind_addr ? bind_addr : "0.0.0.0", &sa.sin_addr) !=
        1) {
        snprintf(err, errlen, "http.bind: not an IPv4 address: %s", bind_addr);
        return HT_EINVAL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "HTTP socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        snprintf(err, errlen, "HTTP endpoint %s:%d: %s", bind_addr, port,
                 strerror(e));
        close(fd);
        return -e;
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    struct agent_http *h = ht_calloc(1, sizeof *h);
    h->a = a;
    h->fd = fd;
    h->port = ntohs(sa.sin_port);
    h->io = ht_io_new(a->loop, fd, HT_LOOP_READ, on_accept, h);
    ht_log(LOG_INFO, "http", "TD served at http://%s:%d/.well-known/wot",
           bind_addr, h->port);
    *out = h;
    return HT_OK;
}

int agent__http_port(const struct agent_http *h)
{
    return h ? h->port : 0;
}

void agent__http_free(struct agent_http *h)
{
    if (!h)
        return;
    while (h->clients)
        client_close(h->clients);
    ht_io_free(h->io);
    close(h->fd);
    free(h);
}
