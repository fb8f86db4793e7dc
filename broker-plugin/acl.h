/* acl.h - the subset of mosquitto's acl_file format that gatewayd writes,
 * parsed so that a SUBSCRIBE can be judged before the broker grants it.
 *
 * mosquitto 2.0's acl_file grants every subscription and filters only at
 * delivery: a board that subscribes to another board's topics gets a
 * SUBACK "granted" and then silence, and nothing tells an operator that it
 * tried. This module answers "is this subscription filter covered by the
 * read rules of this user?" from the same file, so the plugin (plugin.c)
 * can refuse it with SUBACK 0x87 (not authorized).
 *
 * Pure: no I/O but the caller's text, no mosquitto headers (unit-tested).
 * Threads: a struct ht_acl is immutable after parsing; any thread may read.
 */
#ifndef HT_ACL_H
#define HT_ACL_H

#include <stdbool.h>
#include <stddef.h>

struct ht_acl;

/* Parse acl_file text (borrowed): "user NAME", "topic [read|write|readwrite|
 * deny] TOPIC", "pattern [...] TOPIC", '#' comments, blank lines. Other
 * lines are ignored. Returns a new ACL (never NULL; free with
 * ht_acl_free). */
struct ht_acl *ht_acl_parse(const char *text);
void ht_acl_free(struct ht_acl *a);

/* True if every topic that filter (borrowed) can match is readable by the
 * client authenticated as user (NULL: anonymous) with client id clientid
 * (may be NULL): some read rule of that user (its "topic" lines, or the
 * lines before the first "user" line when anonymous) or a "pattern" line
 * with %u/%c substituted covers the filter. A "$share/NAME/" prefix is
 * ignored. Deny rules are not consulted (mosquitto checks them at
 * delivery). */
bool ht_acl_may_subscribe(const struct ht_acl *a, const char *user,
                          const char *clientid, const char *filter);

/* True if MQTT topic filter rule covers filter: every topic matched by
 * filter is matched by rule. Both borrowed. */
bool ht_acl_filter_covers(const char *rule, const char *filter);

#endif
