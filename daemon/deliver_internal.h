/* deliver_internal.h: what tests/test_daemon_deliver.c checks of
 * deliver.c besides what a receiver sees.  Only deliver.c and that suite
 * include it. */
#pragma once

#include <stdint.h>

struct deliver;

/* The wait in seconds before attempt n + 1, after n failed ones: 10 s
 * doubling per attempt up to 1 h, each +-20%. */
int64_t deliver_backoff(int attempts);
/* End every sink-wide back-off now, as if its wait had passed: the sinks
 * stay down, and the next attempt of each is its one probe.  The tests'
 * counterpart of sw_store_outbox_shift() for the wait kept in memory. */
void deliver_backoff_end(struct deliver *dl);
