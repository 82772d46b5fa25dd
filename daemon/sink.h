/* sink.h: one kind of receiver behind one interface, as the sources are
 * behind struct poller_ops.  deliver.c owns the outbox, retries, back-off,
 * scheduling, dead items and redaction and never asks what type a sink
 * is; each sink_TYPE.c renders a document for its receiver, sends it and
 * classifies the answer.
 *
 * Two objects, so that the release-2 features (SPEC.md, "Sinks at scale")
 * fit without another switch:
 * - struct sink: one configured sink, with its type's own state in priv
 *   (a syslog connection, HEC's endpoint).  Set up at (re)load.
 * - struct sink_attempt: one document handed to the sink once.  deliver.c
 *   owns it and fills the in part; the sink fills the out part and, for a
 *   send that goes asynchronous, calls sink_attempt_done() from the loop.
 *   A sink keeps no pointer to "the" item: its callbacks carry the attempt.
 *
 * How release 2 fits:
 * - Several requests in flight: deliver.c gives a worker up to the sink's
 *   max_in_flight attempts at once (config.c: 4 webhook and HEC, 1 Teams;
 *   the byte streams accept no key and stay at 1, since they carry frames
 *   in order on one connection); each HTTP transfer's callback argument is
 *   its attempt.
 * - Sink-wide back-off: the classification sets the out member sink_down
 *   (no answer, 429, 5xx: the receiver, not this document; sink_fail()
 *   sets it unless the attempt is permanent), on which deliver.c backs the
 *   whole sink off and probes with one attempt, whatever the type.
 * - Digests: the attempt's doc is an alert document or, for a sink whose
 *   ops set digests, a smtpwatch.digest/1 one (sw_digest_is() tells them
 *   apart by their schema); key is the Idempotency-Key of whichever it
 *   is ("digest-ID-0").
 * - HEC acknowledgement: sink_hec.c keeps the attempt SINK_PENDING, with
 *   its ack wait in attempt->state, until HEC acknowledges the event (or
 *   ack_timeout passes: a failure, retried like any other); deliver.c
 *   sees one long send.  Sinks without it are done when their send is. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct event_base;
struct http;
struct http_response;
struct sink_ops;

/* What send() says. */
enum sink_result {
	SINK_FAILED = -1,
	SINK_PENDING = 0, /* sink_attempt_done() tells, from the event loop */
	SINK_OK = 1,
};

/* One configured sink, as its type sees it. */
struct sink {
	const struct sink_ops *ops;
	const struct sw_sink_config *cfg; /* into the daemon's config */
	struct event_base *base;
	struct http *http;
	const char *hostname;             /* this host, for the rendered forms */
	const char *const *secrets;       /* NULL-terminated: what a receiver's text must not carry (may be NULL) */
	void *priv;                       /* the type's own state, from setup() */
};

#define SINK_BATCH_MAX 50 /* documents in one attempt of a sink that batches */

/* One attempt to hand one document (or a batch of them) to a sink. */
struct sink_attempt {
	struct sink *sink;
	void *owner;           /* deliver.c's */
	/* in, set by deliver.c */
	const char *doc;       /* the document, compact JSON, byte for byte as stored */
	char key[48];          /* the Idempotency-Key: "{alert id}-{transition}" */
	int64_t created;       /* when the transition happened: a resent event is the same */
	/* A batch (ops->batch > 1): docs[0..n_docs) and their createds; doc and
	 * created are the first's.  A sink that does not batch gets one. */
	size_t n_docs;
	const char *docs[SINK_BATCH_MAX];
	int64_t createds[SINK_BATCH_MAX];
	int64_t now;           /* when the attempt starts */
	/* out, set by the sink when the attempt fails */
	char error[256];       /* why: the sink's words, the receiver's quoted (redacted later) */
	bool permanent;        /* the document can never be sent: dead now */
	bool sink_down;        /* the receiver failed, not this document (no answer, 429, 5xx,
	                        * a refused connection): deliver.c backs the whole sink off */
	int64_t retry_after;   /* s the receiver asked to wait, -1 none */
	/* the sink's own, while the attempt is pending (HEC's ack wait) */
	void *state;
};

struct sink_ops {
	enum sw_sink_type type;
	bool secret_url;       /* the url is a secret (a webhook's, a Workflows' sig=): redact it */
	bool digests;          /* renders smtpwatch.digest/1 documents: the sink's alerts may be grouped */
	int batch;             /* most documents one request carries (HEC: events concatenated); 0, 1: one */
	/* At (re)load: check the sink's config and build priv.  < 0 makes the
	 * sink unusable (its items stay queued) with why.  May be NULL. */
	int (*setup)(struct sink *s, char *why, size_t n);
	/* Start the attempt: SINK_OK or SINK_FAILED when done at once,
	 * SINK_PENDING when sink_attempt_done() will tell. */
	int (*send)(struct sink *s, struct sink_attempt *a);
	/* Abandon a pending attempt without calling back (the sink goes
	 * away).  May be NULL when the type never goes asynchronous. */
	void (*cancel)(struct sink *s, struct sink_attempt *a);
	/* Free priv; takes a sink whose setup() failed.  May be NULL. */
	void (*free)(struct sink *s);
};

/* The ops of a sink type; NULL when this version cannot send to it. */
const struct sink_ops *sink_ops_of(enum sw_sink_type type);

/* deliver.c: a pending attempt is over (call it from the event loop). */
void sink_attempt_done(struct sink_attempt *a, bool ok);

/* For the sinks (sink.c). */
/* setup() of the sinks that need only their url (webhook, Teams). */
int sink_setup_url(struct sink *s, char *why, size_t n);
/* Fail the attempt with "what: strerror(err)"; SINK_FAILED. */
int sink_fail(struct sink_attempt *a, const char *what, int err);
/* The attempt's document parsed (new reference); a broken one fails the
 * attempt for good (NULL). */
json_t *sink_doc(struct sink_attempt *a);
/* POST body as JSON to url with the attempt's Idempotency-Key and the
 * extra headers (NULL-terminated, at most SINK_HTTP_EXTRA_MAX; extra may
 * be NULL); cb(res, a) classifies the answer.  SINK_PENDING, or
 * SINK_FAILED when the request cannot start. */
#define SINK_HTTP_EXTRA_MAX 4
int sink_http_post(struct sink *s, struct sink_attempt *a, const char *url, const char *body, size_t len,
                   const char *const *extra, void (*cb)(struct http_response *res, void *arg));
/* The classification of webhook and Teams: any 2xx is delivered;
 * 429/503 pass their Retry-After on. */
void sink_http_2xx_cb(struct http_response *res, void *arg);
/* cancel() of the HTTP sinks. */
void sink_http_cancel(struct sink *s, struct sink_attempt *a);

extern const struct sink_ops sink_webhook_ops;
extern const struct sink_ops sink_teams_ops;
extern const struct sink_ops sink_hec_ops;
extern const struct sink_ops sink_syslog_ops;
extern const struct sink_ops sink_journal_ops;
