/* poller.h: the sign-ins source of one tenant: one one-shot timer, runs
 * never overlap; a run reads every page since the watermark (less the
 * lookback), storing each page with its checkpoint in one transaction. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct tenant;
struct poller;

struct poller *poller_new(struct tenant *t);
void poller_free(struct poller *p);
/* Arm the first run: at once when now is true, else after a short jitter. */
void poller_start(struct poller *p, bool now);
/* Run now unless a run is in progress. */
void poller_run_now(struct poller *p);
bool poller_running(const struct poller *p);
/* Status of the source (new reference), see `status` in SPEC. */
json_t *poller_status(struct poller *p);
