/* sink_hec.c: Splunk's HTTP Event Collector: the alert as a HEC event,
 * timed by its transition (a resent event is the same), with the sink's
 * token, index, source and sourcetype; up to 50 queued alerts as
 * concatenated events in one POST.  HEC's code in the answer decides:
 * a bad token or a refused request is retried (the sink is fixed by a
 * reload), a rejected event can never be sent.
 *
 * With a channel, indexer acknowledgement: every request carries
 * X-Splunk-Request-Channel, HEC answers {"text":"Success","code":0,
 * "ackId":N}, and the event counts as delivered only once
 * POST /services/collector/ack?channel=GUID with {"acks":[N]} answers
 * {"acks":{"N":true}}.  The attempt stays pending meanwhile; the query is
 * repeated after 1 s, 2 s, 4 s, then every 8 s, until ack_timeout has
 * passed since the event was accepted: then the attempt fails, and the
 * item is sent again later like any failed one, the same bytes under the
 * same Idempotency-Key (an event HEC indexed after all then appears twice
 * in Splunk, which at least once allows). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "http.h"
#include "render.h"
#include "sink.h"
#include "smtpwatchd.h"

#define HEC_ACK_FIRST_MS 1000 /* the first ack query, then doubling */
#define HEC_ACK_MAX_MS 8000   /* the longest wait between queries */

/* The sink's own state: its endpoints. */
struct hec {
	char *url;     /* the event endpoint */
	char *ack_url; /* .../services/collector/ack?channel=GUID, NULL without a channel */
};

/* One accepted event waiting for its acknowledgement (attempt->state). */
struct hec_ack {
	struct sink *s;
	struct sink_attempt *a;
	struct event timer;
	long long ack_id;
	int64_t deadline_ms; /* monotonic: ack_timeout after the event was accepted */
	int64_t wait_ms;     /* until the next query */
};

/* The endpoints (priv): the url as given when it names a collector
 * endpoint, else the url plus /services/collector/event; the ack endpoint
 * beside it when a channel is set. */
static int hec_setup(struct sink *s, char *why, size_t n)
{
	const char *u = s->cfg->url;
	size_t len = u != NULL ? strlen(u) : 0;
	const char *at;
	struct hec *h;

	if (u == NULL || s->cfg->token == NULL) {
		snprintf(why, n, "no url or token");
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		goto oom;
	s->priv = h;
	while (len > 0 && u[len - 1] == '/')
		len--;
	at = strstr(u, "/services/collector");
	if (at != NULL)
		len = (size_t)(at - u);
	if (at != NULL ? (h->url = strdup(u)) == NULL
	               : asprintf(&h->url, "%.*s/services/collector/event", (int)len, u) < 0) {
		h->url = NULL;
		goto oom;
	}
	if (s->cfg->channel != NULL &&
	    asprintf(&h->ack_url, "%.*s/services/collector/ack?channel=%s", (int)len, u, s->cfg->channel) < 0) {
		h->ack_url = NULL;
		goto oom;
	}
	return 0;
oom:
	snprintf(why, n, "out of memory");
	return -ENOMEM;
}

static void hec_free(struct sink *s)
{
	struct hec *h = s->priv;

	if (h != NULL) {
		free(h->url);
		free(h->ack_url);
		free(h);
	}
	s->priv = NULL;
}

/* The attempt is over: drop its ack wait, then tell deliver.c. */
static void hec_finish(struct sink_attempt *a, bool ok)
{
	struct hec_ack *k = a->state;

	if (k != NULL) {
		event_del(&k->timer);
		free(k);
		a->state = NULL;
	}
	sink_attempt_done(a, ok);
}

/* The headers every request of the sink carries: the token, the channel. */
static int hec_headers(struct sink *s, char **auth, char **chan)
{
	*chan = NULL;
	if (asprintf(auth, "Authorization: Splunk %s", s->cfg->token) < 0)
		return -ENOMEM;
	if (s->cfg->channel != NULL && asprintf(chan, "X-Splunk-Request-Channel: %s", s->cfg->channel) < 0) {
		sw_free_secret(*auth);
		return -ENOMEM;
	}
	return 0;
}

static void hec_ack_cb(struct http_response *res, void *arg);

/* Time for the next ack query. */
static void hec_ack_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hec_ack *k = arg;
	struct hec *h = k->s->priv;
	char body[64], *auth = NULL, *chan = NULL;
	const char *extra[3];

	snprintf(body, sizeof(body), "{\"acks\":[%lld]}", k->ack_id);
	if (hec_headers(k->s, &auth, &chan) < 0) {
		sink_fail(k->a, "header", ENOMEM);
		hec_finish(k->a, false);
		return;
	}
	extra[0] = auth;
	extra[1] = chan;
	extra[2] = NULL;
	if (sink_http_post(k->s, k->a, h->ack_url, body, strlen(body), extra, hec_ack_cb) != SINK_PENDING)
		hec_finish(k->a, false);
	sw_free_secret(auth);
	free(chan);
}

/* Query again after the back-off, or give up once ack_timeout passed. */
static void hec_ack_again(struct hec_ack *k, const char *why)
{
	int64_t now = daemon_mono_ms();
	struct timeval tv;

	if (now >= k->deadline_ms) {
		snprintf(k->a->error, sizeof(k->a->error), "event accepted but not acknowledged within %llds (%s)",
		         (long long)k->s->cfg->ack_timeout, why);
		hec_finish(k->a, false);
		return;
	}
	if (now + k->wait_ms > k->deadline_ms)
		k->wait_ms = k->deadline_ms - now;
	tv.tv_sec = (time_t)(k->wait_ms / 1000);
	tv.tv_usec = (suseconds_t)(k->wait_ms % 1000) * 1000;
	evtimer_add(&k->timer, &tv);
	k->wait_ms = k->wait_ms * 2 < HEC_ACK_MAX_MS ? k->wait_ms * 2 : HEC_ACK_MAX_MS;
}

/* HEC answered an ack query: {"acks":{"N":true|false}}. */
static void hec_ack_cb(struct http_response *res, void *arg)
{
	struct sink_attempt *a = arg;
	struct hec_ack *k = a->state;
	json_t *j = NULL;
	char id[32];
	bool acked = false;

	if (res->status >= 200 && res->status <= 299 && res->body.data != NULL) {
		j = json_loadb(res->body.data, res->body.len, 0, NULL);
		snprintf(id, sizeof(id), "%lld", k->ack_id);
		acked = json_is_true(json_object_get(json_object_get(j, "acks"), id));
		json_decref(j);
	}
	if (acked) {
		hec_finish(a, true);
		return;
	}
	if (res->status == 0)
		hec_ack_again(k, res->error[0] ? res->error : "no answer");
	else if (res->status >= 200 && res->status <= 299)
		hec_ack_again(k, "not yet indexed");
	else
		hec_ack_again(k, "the ack query failed");
}

/* The event was accepted with ackId: wait for its acknowledgement. */
static void hec_ack_wait(struct sink_attempt *a, long long ack_id)
{
	struct hec_ack *k = calloc(1, sizeof(*k));

	if (k == NULL) {
		sink_fail(a, "ack", ENOMEM);
		sink_attempt_done(a, false);
		return;
	}
	k->s = a->sink;
	k->a = a;
	k->ack_id = ack_id;
	k->deadline_ms = daemon_mono_ms() + a->sink->cfg->ack_timeout * 1000;
	k->wait_ms = HEC_ACK_FIRST_MS;
	evtimer_assign(&k->timer, a->sink->base, hec_ack_timer_cb, k);
	a->state = k;
	hec_ack_again(k, "");
}

/* Splunk answered (or the transfer failed). */
static void hec_done_cb(struct http_response *res, void *arg)
{
	struct sink_attempt *a = arg;
	struct sw_hec_result hr;
	char code[160] = "", *body = NULL;
	size_t cap = res->body.len * 2 + 256;

	/* Redact the whole answer before its text is cut to size: a secret
	 * cut in half would no longer be found. */
	if (res->body.data != NULL && res->body.len > 0 && (body = malloc(cap)) != NULL) {
		memcpy(body, res->body.data, res->body.len);
		body[res->body.len] = '\0';
		sw_redact(body, cap, a->sink->secrets);
	}
	sw_render_hec_result(res->status, body ? body : res->body.data, body ? strlen(body) : res->body.len, &hr);
	free(body);
	if (hr.outcome == SW_HEC_OK) {
		struct hec *h = a->sink->priv;
		json_t *j = h->ack_url != NULL ? json_loadb(res->body.data, res->body.len, 0, NULL) : NULL;
		json_t *ack = json_object_get(j, "ackId");

		/* Without an ackId the token has acknowledgement off: HEC's
		 * 200 is all there is. */
		if (json_is_integer(ack))
			hec_ack_wait(a, (long long)json_integer_value(ack));
		else
			sink_attempt_done(a, true);
		json_decref(j);
		return;
	}
	if (hr.code >= 0)
		snprintf(code, sizeof(code), "HEC code %d: %s, ", hr.code, hr.text[0] ? hr.text : "?");
	/* Only a refused event is this document's doing. */
	a->sink_down = hr.outcome != SW_HEC_REJECTED;
	switch (hr.outcome) {
	case SW_HEC_TOKEN:
		snprintf(a->error, sizeof(a->error), "token rejected (%sHTTP %ld): check token_file", code,
		         res->status);
		break;
	case SW_HEC_CONFIG:
		snprintf(a->error, sizeof(a->error), "HEC refused the request (%sHTTP %ld): check the sink", code,
		         res->status);
		break;
	case SW_HEC_REJECTED:
		a->permanent = true;
		snprintf(a->error, sizeof(a->error), "HEC rejected the event (%sHTTP %ld)", code, res->status);
		break;
	default:
		if (res->status == 0)
			snprintf(a->error, sizeof(a->error), "%s", res->error[0] ? res->error : "no answer");
		else
			snprintf(a->error, sizeof(a->error), "%sHTTP %ld", code, res->status);
		a->retry_after = res->retry_after;
		break;
	}
	sink_attempt_done(a, false);
}

/* POST the alerts as HEC events, concatenated in one body (HEC takes
 * several event objects a request), with the sink's token (and channel).
 * A document that cannot be rendered fails the whole batch for good, as
 * HEC would refuse the request. */
static int hec_send(struct sink *s, struct sink_attempt *a)
{
	const struct sw_hec_meta meta = {s->cfg->index, s->cfg->source, s->cfg->sourcetype};
	struct hec *h = s->priv;
	struct sw_buf body = {0};
	char *auth = NULL, *chan = NULL;
	const char *extra[3];
	size_t n = a->n_docs > 0 ? a->n_docs : 1;
	int r = 0;

	a->state = NULL;
	for (size_t i = 0; i < n && r >= 0; i++) {
		json_error_t jerr;
		json_t *doc = json_loads(a->n_docs > 0 ? a->docs[i] : a->doc, 0, &jerr);

		if (doc == NULL) {
			a->permanent = true;
			snprintf(a->error, sizeof(a->error), "a stored alert document is not JSON: %s", jerr.text);
			sw_buf_clear(&body);
			return SINK_FAILED;
		}
		r = sw_render_hec_event(doc, s->hostname, (a->n_docs > 0 ? a->createds[i] : a->created) * 1000, &meta,
		                        &body);
		json_decref(doc);
	}
	if (r < 0) {
		sw_buf_clear(&body);
		a->permanent = r == -EINVAL;
		return sink_fail(a, "cannot render the event", -r);
	}
	if (hec_headers(s, &auth, &chan) < 0) {
		sw_buf_clear(&body);
		return sink_fail(a, "header", ENOMEM);
	}
	extra[0] = auth;
	extra[1] = chan;
	extra[2] = NULL;
	r = sink_http_post(s, a, h->url, body.data, body.len, extra, hec_done_cb);
	sw_free_secret(auth);
	free(chan);
	sw_buf_clear(&body);
	return r;
}

/* Abandon the attempt: its request or its ack wait. */
static void hec_cancel(struct sink *s, struct sink_attempt *a)
{
	struct hec_ack *k = a->state;

	sink_http_cancel(s, a);
	if (k != NULL) {
		event_del(&k->timer);
		free(k);
		a->state = NULL;
	}
}

const struct sink_ops sink_hec_ops = {
	.digests = true,
	.batch = SINK_BATCH_MAX,
	.type = SW_SINK_SPLUNK_HEC,
	.secret_url = true,
	.setup = hec_setup,
	.send = hec_send,
	.cancel = hec_cancel,
	.free = hec_free,
};
