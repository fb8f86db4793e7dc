/* journal.c - the store's mmap'd write-ahead ring (see journal.h). */
#include "gateway/store/journal.h"

#include "ht_err.h"
#include "ht_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define J_MAGIC "HTJNL002"
#define J_MAGIC_V1 "HTJNL001" /* FNV-1a sums; replayed, then replaced */
#define J_HDR 4096            /* file header: magic, ring size, epoch */
#define J_ALIGN 64            /* >= sizeof(struct j_rec): a pad always fits */
#define J_PAD 255

struct j_file {
    char magic[8];
    uint64_t size;
    uint64_t epoch;
};

/* On-disk record header; a, b and text follow, each NUL-terminated. */
struct j_rec {
    uint64_t pos; /* written last: a record is valid once pos matches */
    uint32_t len; /* whole record, aligned */
    uint32_t sum; /* rec_sum() of everything after this field */
    int64_t ts, seq;
    double num;
    uint32_t alen, blen, tlen;
    uint8_t kind, has_num, pad_[2];
};

_Static_assert(sizeof(struct j_rec) <= J_ALIGN, "record header > J_ALIGN");

struct ht_journal {
    int fd;
    uint8_t *map;  /* whole file */
    uint8_t *ring; /* map + J_HDR */
    size_t size;
    uint64_t head, tail;
    bool v1; /* a ring of the first format: FNV-1a sums */
};

static size_t align(size_t n)
{
    return (n + J_ALIGN - 1) & ~(size_t)(J_ALIGN - 1);
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* A torn-write check, not a MAC: eight bytes per multiply (FNV-1a's byte
 * loop was 4 % of the loop thread per value), then a final mix. */
static uint32_t sum64(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w ^ ((uint64_t)n << 56)) * 0xc4ceb9fe1a85ec53u;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static uint32_t rec_sum(const struct ht_journal *j, const uint8_t *p, size_t n)
{
    return j->v1 ? fnv(p, n) : sum64(p, n);
}

static struct j_rec *at(const struct ht_journal *j, uint64_t pos)
{
    return (struct j_rec *)(j->ring + pos % j->size);
}

static size_t body_off(void)
{
    return offsetof(struct j_rec, ts);
}

/* The record at pos if it is whole and was written at pos, else NULL. */
static const struct j_rec *valid(const struct ht_journal *j, uint64_t pos)
{
    size_t off = pos % j->size;
    if (j->size - off < sizeof(struct j_rec))
        return NULL;
    const struct j_rec *r = at(j, pos);
    if (r->pos != pos || r->len < sizeof *r || r->len % J_ALIGN ||
        r->len > j->size - off)
        return NULL;
    if (r->kind == J_PAD)
        return r;
    if (r->kind > HT_JREC_PRESENCE ||
        sizeof *r + (size_t)r->alen + r->blen + r->tlen + 3 > r->len)
        return NULL;
    const uint8_t *b = (const uint8_t *)r;
    size_t used = sizeof *r + r->alen + r->blen + r->tlen + 3;
    if (rec_sum(j, b + body_off(), used - body_off()) != r->sum)
        return NULL;
    return r;
}

static void init_file(struct ht_journal *j, uint64_t epoch)
{
    struct j_file *f = (struct j_file *)j->map;
    memset(j->map, 0, J_HDR);
    memset(j->ring, 0, j->size);
    memcpy(f->magic, J_MAGIC, 8);
    f->size = j->size;
    f->epoch = epoch;
}

static int map_file(struct ht_journal *j, size_t size, char *err, size_t errlen,
                    const char *path)
{
    if (ftruncate(j->fd, (off_t)(J_HDR + size)) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    /* Every block of the ring allocated now: a sparse file would take its
     * blocks when a page is first touched through the map, and on a full
     * disk that is a SIGBUS, not an error. */
    int fe = posix_fallocate(j->fd, 0, (off_t)(J_HDR + size));
    if (fe) {
        snprintf(err, errlen, "%s: cannot reserve %zu KiB for the journal: %s",
                 path, (J_HDR + size) >> 10, strerror(fe));
        return -fe;
    }
    void *m =
        mmap(NULL, J_HDR + size, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        snprintf(err, errlen, "%s: mmap: %s", path, strerror(e));
        return -e;
    }
    j->map = m;
    j->ring = j->map + J_HDR;
    j->size = size;
    return HT_OK;
}

int ht_journal_open(const char *path, size_t size, uint64_t epoch,
                    uint64_t from, struct ht_journal **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    size = align(size < 65536 ? 65536 : size);
    struct ht_journal *j = ht_calloc(1, sizeof *j);
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (j->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        free(j);
        return -e;
    }
    /* An existing ring keeps its size until its records are replayed. */
    struct stat st;
    struct j_file f = {{0}, 0, 0};
    bool have =
        fstat(j->fd, &st) == 0 && st.st_size > J_HDR &&
        pread(j->fd, &f, sizeof f, 0) == (ssize_t)sizeof f &&
        (!memcmp(f.magic, J_MAGIC, 8) || !memcmp(f.magic, J_MAGIC_V1, 8)) &&
        (uint64_t)st.st_size == J_HDR + f.size && f.size % J_ALIGN == 0;
    int rc = map_file(j, have ? f.size : size, err, errlen, path);
    if (rc) {
        ht_journal_close(j);
        return rc;
    }
    if (!have || f.epoch != epoch)
        init_file(j, epoch);
    else
        j->v1 = !memcmp(f.magic, J_MAGIC_V1, 8);
    j->head = j->tail = from;
    for (const struct j_rec *r; (r = valid(j, j->head));)
        j->head += r->len;
    *out = j;
    return HT_OK;
}

void ht_journal_close(struct ht_journal *j)
{
    if (!j)
        return;
    if (j->map)
        munmap(j->map, J_HDR + j->size);
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

static void put_pad(struct ht_journal *j, size_t len)
{
    struct j_rec *r = at(j, j->head);
    memset(r, 0, sizeof *r);
    r->len = (uint32_t)len;
    r->kind = J_PAD;
    __atomic_store_n(&r->pos, j->head, __ATOMIC_RELEASE);
    j->head += len;
}

int ht_journal_append(struct ht_journal *j, const struct ht_jrec *in)
{
    size_t alen = strlen(in->a), blen = in->b ? strlen(in->b) : 0,
           tlen = in->text ? strlen(in->text) : 0;
    size_t used = sizeof(struct j_rec) + alen + blen + tlen + 3;
    size_t len = align(used);
    if (len > j->size / 4 || alen > UINT32_MAX || blen > UINT32_MAX ||
        tlen > UINT32_MAX)
        return HT_ETOOBIG;
    size_t off = j->head % j->size;
    size_t pad = j->size - off < len ? j->size - off : 0;
    if (j->head + pad + len - j->tail > j->size)
        return HT_EAGAIN;
    if (pad)
        put_pad(j, pad);
    struct j_rec *r = at(j, j->head);
    r->len = (uint32_t)len;
    r->ts = in->ts;
    r->seq = in->seq;
    r->num = in->num;
    r->alen = (uint32_t)alen;
    r->blen = (uint32_t)blen;
    r->tlen = (uint32_t)tlen;
    r->kind = (uint8_t)in->kind;
    r->has_num = in->has_num;
    r->pad_[0] = r->pad_[1] = 0;
    char *p = (char *)(r + 1);
    memcpy(p, in->a, alen + 1);
    p += alen + 1;
    if (blen)
        memcpy(p, in->b, blen);
    p[blen] = '\0';
    p += blen + 1;
    if (tlen)
        memcpy(p, in->text, tlen);
    p[tlen] = '\0';
    r->sum = rec_sum(j, (const uint8_t *)r + body_off(), used - body_off());
    __atomic_store_n(&r->pos, j->head, __ATOMIC_RELEASE);
    j->head += len;
    return HT_OK;
}

uint64_t ht_journal_head(const struct ht_journal *j)
{
    return j->head;
}

void ht_journal_release(struct ht_journal *j, uint64_t pos)
{
    if (pos > j->tail && pos <= j->head)
        j->tail = pos;
}

size_t ht_journal_each(const struct ht_journal *j, uint64_t from, uint64_t to,
                       void (*fn)(void *ud, const struct ht_jrec *r), void *ud)
{
    size_t n = 0;
    for (uint64_t pos = from; pos < to;) {
        const struct j_rec *r = at(j, pos);
        pos += r->len;
        if (r->kind == J_PAD)
            continue;
        const char *p = (const char *)(r + 1);
        struct ht_jrec out = {
            .kind = r->kind,
            .a = p,
            .b = r->blen ? p + r->alen + 1 : NULL,
            .text = r->tlen ? p + r->alen + 1 + r->blen + 1 : NULL,
            .ts = r->ts,
            .seq = r->seq,
            .num = r->num,
            .has_num = r->has_num,
        };
        fn(ud, &out);
        n++;
    }
    return n;
}

bool ht_journal_current(const struct ht_journal *j)
{
    return !j->v1;
}

size_t ht_journal_size(const struct ht_journal *j)
{
    return j->size;
}
