/* poller.h: the run machinery every source of a tenant shares: one
 * one-shot timer (runs never overlap), the token, pacing, Retry-After,
 * retries of a page, back-off between failed runs, and status.  A source
 * (sign-ins, Exchange) supplies the requests and what to do with each page. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tenant;
struct poller;

/* What a source's page handler says. */
enum poller_next {
	POLLER_MORE,  /* poller_request() set the next request */
	POLLER_DONE,  /* the run is complete and committed */
};

struct poller_ops {
	const char *name;            /* "signins", "exchange": checkpoint source and log name */
	const char *permission_hint; /* appended to 401/403 failures */
	int pace_requests;           /* at most this many requests ... */
	int pace_window_ms;          /* ... per this window */
	/* The token audience (base URL) and the run interval. */
	const char *(*resource)(const struct tenant *t);
	int64_t (*interval)(const struct tenant *t);
	/* Start a run: call poller_request() for the first page. */
	int (*begin)(struct poller *p, char *why, size_t n);
	/* A 200 JSON page: store it.  < 0 fails: -EAGAIN retries the same page
	 * (a malformed or truncated body), anything else ends the run. */
	int (*page)(struct poller *p, const char *body, size_t len, enum poller_next *ret, char *why, size_t n);
	/* An answer other than 200, 401/403, 429/503 and 5xx (a 400 or 404
	 * that means something to the source, may be NULL): 1 when taken like
	 * a page (*ret set, the next request set for POLLER_MORE), 0 when not
	 * (the run fails with the status), < 0 to fail with why. */
	int (*answer)(struct poller *p, long status, const char *body, size_t len, enum poller_next *ret, char *why,
	              size_t n);
	/* May be NULL.  A 403 or 404 (after the 401 renewal) of one request:
	 * 0 with *ret POLLER_MORE (poller_request() set another request) goes
	 * on, POLLER_DONE ends the run as complete; < 0 fails it with why
	 * (-EACCES: refused, as a 401/403 without this hook).  A source whose
	 * reads need separate permissions keeps what it could read. */
	int (*refused)(struct poller *p, long status, const char *error, enum poller_next *ret, char *why, size_t n);
	/* The run ended (ok or not): free per-run state. */
	void (*end)(struct poller *p, bool ok);
	/* A 3xx answer (may be NULL: then it fails the run).  location is the
	 * absolute target ("" when none).  The source checks it and calls
	 * poller_request_anonymous() (*ret POLLER_MORE), or fails with why. */
	int (*redirect)(struct poller *p, const char *location, enum poller_next *ret, char *why, size_t n);
	/* Extra status fields (may be NULL). */
	void (*status)(struct poller *p, json_t *obj);
};

struct poller *poller_new(struct tenant *t, const struct poller_ops *ops);
void poller_free(struct poller *p);
/* The first runs of n tenants started together (the daemon's start, the
 * tenants a reload adds) are spread evenly over POLLER_START_SPREAD_MS a
 * tenant, at most the source's interval: 10,000 tenants at once would
 * otherwise ask for 30,000-40,000 runs and their tokens in the same
 * second.  Every source of one tenant starts in its slot (one token).
 * The offset of the k-th of n tenants (0 <= k < n), ms; 0 for the first
 * and when n < 2. */
#define POLLER_START_SPREAD_MS 30
int64_t poller_start_offset_ms(int64_t interval_s, size_t k, size_t n);
/* Arm the first run of the k-th of n tenants started together (n 0: now). */
void poller_start(struct poller *p, size_t k, size_t n);
/* Run now unless a run is in progress. */
void poller_run_now(struct poller *p);
bool poller_running(const struct poller *p);
/* Status of the source (new reference), see `status` in SPEC. */
json_t *poller_status(struct poller *p);

/* What source-unhealthy and coverage-gap need to know (strings borrowed
 * until the next run ends). */
struct sw_source_health;
void poller_health(struct poller *p, struct sw_source_health *ret);

/* For sources: the next request (copied); body NULL for GET. */
int poller_request(struct poller *p, const char *method, const char *url, const char *body, const char *header);
/* The next request goes to url without the bearer token (a
 * pre-authenticated download URL from a redirect): no Authorization
 * header, any content type, no origin check (the source made its own). */
int poller_request_anonymous(struct poller *p, const char *url);
struct tenant *poller_tenant(struct poller *p);
void *poller_priv(struct poller *p);
void poller_set_priv(struct poller *p, void *priv);
/* The NextPageUri header of the answer in hand ("" when none), during
 * page() and answer(). */
const char *poller_next_page_uri(struct poller *p);
/* The source is refused for a reason other than 401/403 (a disabled
 * subscription): source-unhealthy at once, like a 401/403.  Cleared by the
 * next successful run. */
void poller_set_denied(struct poller *p);
/* Records stored by this run (sources add to it), for the run's log line. */
void poller_add_records(struct poller *p, int64_t n);
/* Records the source could not read and skipped (each counted once per
 * page it came in): status "skipped" and smtpwatch_records_skipped_total. */
void poller_add_skipped(struct poller *p, int64_t n);

extern const struct poller_ops signins_ops;
extern const struct poller_ops exo_ops;
extern const struct poller_ops audit_ops;
extern const struct poller_ops policies_ops;
extern const struct poller_ops usage_ops;
extern const struct poller_ops trace_ops;
/* status "can_read" of a tenant: {SOURCE: {"ok", "why"}} from its sources'
 * status objects (new reference; source_usage.c). */
json_t *usage_can_read(const json_t *sources);
