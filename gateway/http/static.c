/* static.c - the web clients' files under / from the web root: content
 * types, ETag / If-None-Match, and no way out of the root (no "..", no
 * hidden files, symlinks resolved and checked against the root). */

#include "gateway/http/http.h"

#include "ht_mem.h"
#include "ht_util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".glb", "model/gltf-binary"},
    {".gltf", "model/gltf+json"},
    {".wasm", "application/wasm"},
    {".txt", "text/plain; charset=utf-8"},
    {".yaml", "application/yaml"},
    {".webmanifest", "application/manifest+json"},
};

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot, types[i].ext))
                return types[i].type;
    return "application/octet-stream";
}

/* Every segment must be a plain name: no "..", ".", hidden files, or
 * control characters. The URL is already percent-decoded by MHD. */
static bool safe_path(const char *url)
{
    if (url[0] != '/' || strlen(url) > 1024)
        return false;
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\')
            return false;
    const char *p = url + 1;
    while (*p) {
        if (*p == '.' || *p == '/')
            return false;
        const char *slash = strchr(p, '/');
        if (!slash)
            break;
        p = slash + 1;
    }
    return true;
}

static enum MHD_Result not_found(struct gw_req *r)
{
    return gw__reply_problem(r, 404, "Not Found", "no such resource");
}

enum MHD_Result gw__serve_static(struct gw_req *r)
{
    const char *root = r->g->conf->web_root;
    if (!root)
        return not_found(r);
    if (!safe_path(r->url))
        return gw__reply_problem(r, 400, "Bad Request", "invalid path");
    char rootreal[PATH_MAX], real[PATH_MAX];
    if (!realpath(root, rootreal))
        return not_found(r);
    const char *rel = r->url[1] ? r->url : "/index.html";
    size_t ul = strlen(rel);
    char *path = ht_asprintf("%s%s%s", rootreal, rel,
                             rel[ul - 1] == '/' ? "index.html" : "");
    struct stat st;
    if (!realpath(path, real) || strncmp(real, rootreal, strlen(rootreal)) ||
        (real[strlen(rootreal)] != '/' && real[strlen(rootreal)] != '\0') ||
        stat(real, &st) || !S_ISREG(st.st_mode)) {
        free(path);
        return not_found(r);
    }
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx-%lx\"",
             (unsigned long long)st.st_size, (unsigned long long)st.st_mtime,
             (long)st.st_mtim.tv_nsec);
    const char *inm =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    struct MHD_Response *resp;
    unsigned status = 200;
    if (inm && strstr(inm, etag)) {
        resp = MHD_create_response_from_buffer(0, (void *)"",
                                               MHD_RESPMEM_PERSISTENT);
        status = 304;
    } else {
        int fd = open(real, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            free(path);
            return not_found(r);
        }
        resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
        if (!resp)
            close(fd);
    }
    if (!resp) {
        free(path);
        return gw__reply_problem(r, 500, "Internal error", "response");
    }
    MHD_add_response_header(resp, "Content-Type", content_type(real));
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    free(path);
    return ret;
}
