/* poller_internal.h: what tests/test_daemon_poller.c reads of a poller
 * besides its status: the one timer (to let a wait elapse at once), the
 * wait it was last armed with, pacing, and the back-off.  Only poller.c and that
 * suite include it. */
#pragma once

#include <stdint.h>

struct event;
struct poller;

/* The timer: runs and every wait within a run (pacing, retries). */
struct event *poller_timer(struct poller *p);
/* Milliseconds of the latest wait armed (a retry, pacing, the next run). */
int64_t poller_armed_ms(const struct poller *p);
/* Pacing: milliseconds to wait before the next request, and the record
 * of one request sent now (poller_send does both). */
int64_t poller_pace_delay(struct poller *p);
void poller_pace_take(struct poller *p);
/* Seconds before the next run after a failed one; 0 after a success. */
int64_t poller_backoff(const struct poller *p);
