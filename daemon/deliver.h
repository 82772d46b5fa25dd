/* deliver.h: the outbox worker: sends each pending alert document to its
 * sink (webhook, teams, splunk-hec, syslog, journal), each sink
 * independently, max_in_flight at once and at most rate a minute, with
 * back-off from 10 s up to 1 h and jitter per item and for the whole sink
 * when the receiver fails, dead after dead_after; a death raises
 * delivery-dead on every other sink. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct daemon;
struct deliver;

struct deliver *deliver_new(struct daemon *d);
void deliver_free(struct deliver *dl);
/* New outbox rows may exist: look now. */
void deliver_kick(struct deliver *dl);
/* Per-sink status (new reference): {"NAME":{"type":..,"supported":..,
 * "queued":..,"delivered":..,"failed":..,"dead":..,"last_error":..,
 * "last_success":..,"in_flight":..,"down":..}}; "down" is true while the
 * sink-wide back-off holds the sink; "supported" is false for a sink type this version
 * cannot send to (its items stay queued); last_error and last_success are
 * null when there is none; "failed" counts failed attempts. */
json_t *deliver_status(struct deliver *dl);
/* --once: try every item due now once per sink (back-off timers are not
 * waited for), then call done(arg) from the event loop, never from inside
 * deliver_drain.  Freeing dl before that cancels the call. */
void deliver_drain(struct deliver *dl, void (*done)(void *arg), void *arg);
/* Sends in flight (a graceful stop waits a little for them). */
int deliver_active(const struct deliver *dl);
