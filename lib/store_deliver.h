/* store_deliver.h: the outbox as the release-2 delivery engine uses it
 * (SPEC.md, "Sinks at scale"): several due items at once, and digests.
 *
 * A digest is an outbox row of its own (alert_id "digest-ID", transition
 * 0, members > 0) whose body is a smtpwatch.digest/1 document; the rows it
 * stands for point at it in their digest column and stay pending, out of
 * the ready set, until the digest is delivered (they are delivered with
 * it) or dead (they die with it).  A digest not yet taken for sending
 * takes the later notifications of its rule and tenant (its body is
 * rebuilt); the delivery engine seals it (sw_store_outbox_seal) before
 * its first attempt, and from then on its body is what every resend
 * carries, under the one Idempotency-Key digest-ID-0.
 * Writes run in the caller's transaction, like the rest of store.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The SQL of the schema migration (rule, tenant, digest, members on outbox). */
extern const char sw_store_deliver_schema[];
/* The SQL of the schema migration that keeps each body once (outbox_bodies). */
extern const char sw_store_bodies_schema[];
/* The SQL of the schema migration that seals digests taken for sending. */
extern const char sw_store_seal_schema[];

/* Group the due notifications of sink into digests (SPEC "Sinks at
 * scale"): for each rule and tenant with more than after notifications
 * queued for the sink since now - window (sent or not), the rows that are
 * pending, never attempted, due at now, ready and not in skip (a JSON
 * array of outbox ids in flight, or NULL) join the group's open digest
 * (made since now - window, not sealed, not in skip), or become the
 * members of one new digest row, due now, when there are two or more of
 * them.  *ret_made and *ret_grown (may be NULL) count the digests made
 * and those that took more members.  after must be > 0. */
int sw_store_outbox_digest(struct sw_store *s, const char *sink, int64_t now, int64_t after, int64_t window,
                           const char *skip, int *ret_made, int *ret_grown);
/* The digest row id is taken for sending: it takes no more members.  A
 * row that is not a digest is left as it is. */
int sw_store_outbox_seal(struct sw_store *s, int64_t id);
/* The digest row digest (of sink) was delivered, or is dead: so are its
 * pending members, and the sink's counters count them (the digest row
 * itself was counted once by sw_store_outbox_delivered/_dead). */
int sw_store_outbox_digest_done(struct sw_store *s, int64_t digest, const char *sink, bool dead, int64_t now,
                                const char *error);
