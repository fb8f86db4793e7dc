/* cmd_ids.c - the memory of recent command ids and their acks, so a command
 * delivered twice (QoS 1 redelivery, a reconnect, a gateway retry) is
 * applied once and answered with its first ack.
 *
 * Bounded: a ring of cap entries in arrival order, the oldest forgotten
 * first; a chained hash over the ring makes lookups O(1) on average.
 */
#include "agent.h"

#include "ht_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX 64

struct id_entry {
    char id[ID_MAX + 1];
    char *ack; /* NULL: slot unused */
    long next; /* next entry in the same bucket, -1 = end */
    size_t bucket;
};

struct ht_agent_ids {
    struct id_entry *ring;
    size_t cap, head, count;
    long *buckets;   /* head entry of each chain, -1 = empty */
    size_t nbuckets; /* a power of two, >= 2 * cap */
};

bool ht_agent_cmd_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                  ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* FNV-1a: ids are short and chosen by the gateway, not an attacker who
 * could aim at one bucket (and a long chain costs only time, not memory). */
static size_t hash(const char *s, size_t nbuckets)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)(h & (nbuckets - 1));
}

struct ht_agent_ids *ht_agent_ids_new(size_t cap)
{
    struct ht_agent_ids *m = ht_calloc(1, sizeof *m);
    m->cap = cap ? cap : 1;
    m->ring = ht_calloc(m->cap, sizeof *m->ring);
    m->nbuckets = 1;
    while (m->nbuckets < 2 * m->cap)
        m->nbuckets <<= 1;
    m->buckets = ht_malloc(m->nbuckets * sizeof *m->buckets);
    for (size_t i = 0; i < m->nbuckets; i++)
        m->buckets[i] = -1;
    return m;
}

void ht_agent_ids_free(struct ht_agent_ids *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->ring[i].ack);
    free(m->ring);
    free(m->buckets);
    free(m);
}

static long find(const struct ht_agent_ids *m, const char *id)
{
    for (long e = m->buckets[hash(id, m->nbuckets)]; e >= 0;
         e = m->ring[e].next)
        if (!strcmp(m->ring[e].id, id))
            return e;
    return -1;
}

const char *ht_agent_ids_find(const struct ht_agent_ids *m, const char *id)
{
    long e = find(m, id);
    return e >= 0 ? m->ring[e].ack : NULL;
}

/* Forget the oldest entry: unlink it from its chain and free its ack. */
static void evict(struct ht_agent_ids *m)
{
    long e = (long)m->head;
    struct id_entry *old = &m->ring[e];
    long *pp = &m->buckets[old->bucket];
    while (*pp != e)
        pp = &m->ring[*pp].next;
    *pp = old->next;
    free(old->ack);
    old->ack = NULL;
    m->head = (m->head + 1) % m->cap;
    m->count--;
}

void ht_agent_ids_put(struct ht_agent_ids *m, const char *id, const char *ack)
{
    if (!ht_agent_cmd_id_valid(id) || find(m, id) >= 0)
        return;
    if (m->count == m->cap)
        evict(m);
    long e = (long)((m->head + m->count) % m->cap);
    struct id_entry *n = &m->ring[e];
    strcpy(n->id, id);
    n->ack = ht_strdup(ack);
    n->bucket = hash(id, m->nbuckets);
    n->next = m->buckets[n->bucket];
    m->buckets[n->bucket] = e;
    m->count++;
}

size_t ht_agent_ids_count(const struct ht_agent_ids *m)
{
    return m->count;
}
