/* store_deliver.h: the outbox as the release-2 delivery engine uses it
 * (SPEC.md, "Sinks at scale"): several due items at once, and digests.
 *
 * A digest is an outbox row of its own (alert_id "digest-ID", transition
 * 0, members > 0) whose body is a smtpwatch.digest/1 document; the rows it
 * stands for point at it in their digest column and stay pending, out of
 * the ready set, until the digest is delivered (they are delivered with
 * it) or dead (they die with it).  A digest never attempted may still
 * take new members (its body is rebuilt); once attempted its body is what
 * every resend carries, under the one Idempotency-Key digest-ID-0.
 * Writes run in the caller's transaction, like the rest of store.h. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The SQL of the schema migration (rule, tenant, digest, members on outbox). */
extern const char sw_store_deliver_schema[];
