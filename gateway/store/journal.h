/* journal.h - the store's write-ahead ring for values and events.
 *
 * A fixed-size file mapped MAP_SHARED: appending a record is a memcpy into
 * the page cache, so what the loop thread has appended survives a kill -9
 * of the process (not a power cut: the ring is never fsynced) without a
 * system call per value. The store's writer thread commits records to
 * SQLite and stores the position it reached in the same transaction; on
 * the next open the records after that position are replayed.
 *
 * Positions are logical byte offsets that only grow; a record sits at
 * pos % size and never straddles the end (a pad record fills the rest).
 * Each record carries its own position and a checksum, so stale or torn
 * records are never taken for new ones. Not thread-safe: the store
 * serialises appends and the release of committed space.
 */
#ifndef HT_GW_JOURNAL_H
#define HT_GW_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ht_journal;

enum {
    HT_JREC_VALUE = 0,
    HT_JREC_EVENT = 1,
    HT_JREC_SEEN = 2,
    HT_JREC_AUDIT = 3,
    HT_JREC_LATE_ACK = 4, /* a: command id, b: result, ts, num: after ms */
    HT_JREC_ALARM = 5,
    /* a: device, ts, num: 1 online, 0 offline; or b: a property of it,
     * num 2: confirmed (good again), 3: stale (a missed heartbeat) */
    HT_JREC_PRESENCE = 6
};

/* One record. Strings are NUL-terminated; on append they are borrowed and
 * copied, in ht_journal_each they point into the map (valid until the
 * record's space is released). */
struct ht_jrec {
    int kind;
    const char *a, *b, *text; /* b and text may be NULL */
    int64_t ts, seq;
    double num;
    bool has_num;
};

/* Map path (created with size bytes of ring if missing, reset when its
 * epoch differs from epoch: a journal of another database). Records from
 * pos `from` on are the ones to replay: ht_journal_head() gives where they
 * end. err gets a readable message. */
int ht_journal_open(const char *path, size_t size, uint64_t epoch,
                    uint64_t from, struct ht_journal **out, char *err,
                    size_t errlen);
/* Unmap and close; NULL is a no-op. */
void ht_journal_close(struct ht_journal *j);
/* Append r (borrowed). HT_EAGAIN when the ring has no room before the
 * released position (the writer is behind), HT_ETOOBIG if r can never fit. */
int ht_journal_append(struct ht_journal *j, const struct ht_jrec *r);
/* Position after the last appended record. */
uint64_t ht_journal_head(const struct ht_journal *j);
/* Space before pos may be overwritten (its records are committed). */
void ht_journal_release(struct ht_journal *j, uint64_t pos);
/* Call fn for each record in [from, to) (pads skipped); returns how many. */
size_t ht_journal_each(const struct ht_journal *j, uint64_t from, uint64_t to,
                       void (*fn)(void *ud, const struct ht_jrec *r), void *ud);
/* False for a ring written by an older release (its records replay; the
 * store then makes a new ring, as after a size change). */
bool ht_journal_current(const struct ht_journal *j);
/* Ring size in bytes. */
size_t ht_journal_size(const struct ht_journal *j);

#endif
