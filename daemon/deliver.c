/* deliver.c: the outbox workers.
 *
 * One worker per configured sink, each on its own one-shot timer, so a
 * slow or dead sink never delays another.  A worker takes the oldest due
 * item of its sink, sends it (one send in flight per sink keeps an alert's
 * transitions in order), records the outcome in its own short transaction,
 * and looks for the next due item at once; when none is due it sleeps until
 * the earliest next attempt, or until deliver_kick().
 *
 * Sinks: webhook (the document, optionally HMAC-signed), teams (an
 * Adaptive Card), splunk-hec (a HEC event), syslog (RFC 5424 over a unix
 * socket, UDP, TCP with octet counting, or TLS as RFC 5425, verified like
 * https) and journal (sd_journal_sendv).
 * Every HTTP request carries Idempotency-Key: {alert id}-{transition}, and
 * every body is rendered from the stored document alone, so a resent item
 * is byte for byte the first one.
 *
 * A failed attempt n waits min(10 s * 2^(n-1), 1 h) +-20%; an item still
 * failing dead_after after it was queued is dead.  The death is recorded
 * together with the daemon's own delivery-dead alert (subject: the sink),
 * which goes to every other sink; the next success of that sink resolves
 * it.  Log lines name the sink and the alert, never a URL (webhook and
 * Teams URLs are secrets) nor a token or key. */
#include "deliver.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "render.h"
#include "smtpwatchd.h"

#define DELIVER_BACKOFF_MIN 10        /* s, first retry */
#define DELIVER_BACKOFF_MAX 3600      /* s, cap */
#define DELIVER_BATCH 32              /* synchronous sends per turn of the loop */
#define DELIVER_HTTP_TIMEOUT_MS 30000L
#define DELIVER_STREAM_TIMEOUT 10     /* s, connect plus write of one frame */
#define DELIVER_STORE_RETRY 30        /* s, after a database error */
#define DELIVER_JOURNAL_SOCKET "/run/systemd/journal/socket" /* where sd_journal_sendv() writes */

enum send_result {
	SEND_FAILED = -1,
	SEND_PENDING = 0, /* the outcome comes from a callback */
	SEND_OK = 1,
};

enum transport {
	TRANSPORT_NONE,
	TRANSPORT_UNIX,
	TRANSPORT_UDP,
	TRANSPORT_TCP,
	TRANSPORT_TLS, /* TCP, then TLS (RFC 5425): same octet-counted frames */
};

struct deliver;

struct worker {
	struct deliver *dl;
	const struct sw_sink_config *sink; /* into daemon->cfg */
	struct event timer;                /* one-shot: look for due items */
	bool usable;                       /* this version can send to the sink */
	bool busy;                         /* a send in flight */
	bool draining;                     /* deliver_drain: due-now items left to try */
	int failures;                      /* consecutive failed attempts */
	struct sw_outbox_item item;        /* the item being sent */
	char error[256];                   /* why the attempt failed */
	bool permanent;                    /* the item can never be sent: dead now */
	int64_t retry_after;               /* s the receiver asked us to wait, -1 none */
	bool dead_check;                   /* a delivery-dead alert of this sink may be firing */
	char *url;                         /* splunk-hec: the event endpoint (owned) */

	/* syslog */
	enum transport transport;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int dfd;                           /* datagram socket, -1 none */
	int sfd;                           /* stream connection, -1 none */
	bool unix_stream;                  /* the unix socket is SOCK_STREAM */
	bool connected;
	struct event io;                   /* sfd: connect / write readiness */
	bool io_assigned;
	struct sw_buf msg;                 /* the rendered RFC 5424 message */
	struct sw_buf frame;               /* stream: "LEN SP MSG" */
	size_t off;                        /* bytes of frame written */
	SSL_CTX *tls_ctx;                  /* tls://: verification set up at (re)load */
	SSL *ssl;                          /* the TLS session on sfd, NULL none */
	bool handshaken;                   /* ssl is past its handshake */
	char host[256];                    /* tls://: the name (or address) the certificate must carry */
};

struct deliver {
	struct daemon *d;
	struct worker *workers;
	size_t n_workers;
	char **secrets;                    /* NULL-terminated: what a peer's text must not carry */
	char hostname[256];
	struct event drain_ev;
	void (*drain_done)(void *arg);
	void *drain_arg;
	int64_t drain_now;
	bool drain_fired;
};

static void worker_run(struct worker *w);

/* The wait before attempt n + 1, after n failed ones: 10 s doubling per
 * attempt up to 1 h, with +-20% jitter so that items queued together do
 * not retry in lock step. */
static int64_t deliver_backoff(int attempts)
{
	int64_t base = DELIVER_BACKOFF_MIN;

	for (int i = 1; i < attempts && base < DELIVER_BACKOFF_MAX; i++)
		base *= 2;
	if (base > DELIVER_BACKOFF_MAX)
		base = DELIVER_BACKOFF_MAX;
	base = base * (80 + (int64_t)arc4random_uniform(41)) / 100;
	return base > 0 ? base : 1;
}

/* A rough, readable duration for log lines: "37s", "48m", "3h", "4d". */
static void deliver_approx(int64_t secs, char *buf, size_t n)
{
	if (secs < 120)
		snprintf(buf, n, "%llds", (long long)secs);
	else if (secs < 2 * 3600)
		snprintf(buf, n, "%lldm", (long long)(secs + 30) / 60);
	else if (secs < 2 * 86400)
		snprintf(buf, n, "%lldh", (long long)(secs + 1800) / 3600);
	else
		snprintf(buf, n, "%lldd", (long long)(secs + 43200) / 86400);
}

/* Run the worker after secs seconds (0: on the next turn of the loop). */
static void worker_arm(struct worker *w, int64_t secs)
{
	struct timeval tv = {0, 0};

	if (secs > DELIVER_BACKOFF_MAX)
		secs = DELIVER_BACKOFF_MAX; /* the wall clock may jump: look again within the hour */
	if (secs > 0)
		tv.tv_sec = (time_t)secs;
	evtimer_add(&w->timer, &tv);
}

/* The worker's timer fired. */
static void worker_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_run(arg);
}

/* The drain is over: call its done() from the loop, never from inside deliver_drain(). */
static void deliver_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *dl = arg;
	void (*done)(void *) = dl->drain_done;

	dl->drain_done = NULL;
	dl->drain_fired = false;
	if (done != NULL)
		done(dl->drain_arg);
}

/* A drain is over when no worker has a due-now item left to try. */
static void deliver_check_drain(struct deliver *dl)
{
	if (dl->drain_done == NULL || dl->drain_fired)
		return;
	for (size_t i = 0; i < dl->n_workers; i++)
		if (dl->workers[i].draining)
			return;
	dl->drain_fired = true;
	event_active(&dl->drain_ev, 0, 0);
}

/* This worker has nothing due-now left for the drain. */
static void worker_drained(struct worker *w)
{
	if (!w->draining)
		return;
	w->draining = false;
	deliver_check_drain(w->dl);
}

/* cfg as the daemon's own alerts about sink skip see it: every sink but
 * that one (a shallow copy: it borrows the sinks' strings).  The caller
 * frees *ret_sinks. */
static int deliver_cfg_without(const struct sw_config *cfg, const char *skip, struct sw_config *ret,
                               struct sw_sink_config **ret_sinks)
{
	struct sw_sink_config *sinks = NULL;
	size_t n = 0;

	if (cfg->n_sinks > 0) {
		sinks = calloc(cfg->n_sinks, sizeof(*sinks));
		if (sinks == NULL)
			return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_sinks; i++)
		if (cfg->sinks[i].name != NULL && strcmp(cfg->sinks[i].name, skip) != 0)
			sinks[n++] = cfg->sinks[i];
	*ret = *cfg;
	ret->sinks = sinks;
	ret->n_sinks = n;
	*ret_sinks = sinks;
	return 0;
}

/* w->item just died: raise (or grow) the delivery-dead alert of this sink,
 * in the caller's transaction, on every sink but this one.  The alert is
 * kept in the dead alert's tenant, so `smtpwatchctl alerts` shows it next
 * to what was lost. */
static int deliver_dead_fire(struct worker *w, int64_t now)
{
	const struct sw_outbox_item *it = &w->item;
	struct daemon *d = w->dl->d;
	struct sw_sink_config *sinks = NULL;
	struct sw_config cfg;
	struct sw_condition c = {0};
	json_t *doc, *evidence = NULL;
	char summary[768], remediation[512], age[32];
	const char *tenant, *rule, *subject;
	int r;

	doc = json_loads(it->body, 0, NULL);
	tenant = json_string_value(json_object_get(doc, "tenant"));
	rule = json_string_value(json_object_get(doc, "rule"));
	subject = json_string_value(json_object_get(doc, "subject"));
	deliver_approx(now - it->created, age, sizeof(age));
	snprintf(summary, sizeof(summary),
	         "alerts to sink %s (%s) are undeliverable: alert %s (%s, %s) is dead after %d attempt%s over %s: %s",
	         w->sink->name, sw_sink_type_name(w->sink->type), it->alert_id, rule ? rule : "-",
	         subject ? subject : "-", it->attempts + 1, it->attempts == 0 ? "" : "s", age, w->error);
	snprintf(remediation, sizeof(remediation),
	         "smtpwatchctl status (sink %s: last error), fix the receiver or the [sink %s] section and "
	         "smtpwatchctl reload; the lost alert: smtpwatchctl alert %s",
	         w->sink->name, w->sink->name, it->alert_id);
	evidence = json_pack("{s:[s],s:s,s:s}", "alert_ids", it->alert_id, "sink_type",
	                     sw_sink_type_name(w->sink->type), "last_error", w->error);
	if (evidence == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	c.rule = SW_RULE_DELIVERY_DEAD;
	c.severity = SW_SEV_HIGH;
	c.tenant = tenant ? tenant : "-";
	c.subject = w->sink->name;
	c.first_seen = it->created;
	c.last_seen = now;
	c.count = 1;
	c.accumulate = true;
	c.summary = summary;
	c.remediation = remediation;
	c.evidence = evidence;
	r = deliver_cfg_without(d->cfg, w->sink->name, &cfg, &sinks);
	if (r >= 0)
		r = sw_lifecycle_fire(d->store, &cfg, &c, now, NULL);
fail:
	free(sinks);
	json_decref(evidence);
	json_decref(doc);
	return r;
}

/* The sink delivers again: resolve its delivery-dead alerts (one per
 * tenant at most), in the caller's transaction, on every other sink. */
static int deliver_dead_resolve(struct worker *w, int64_t now)
{
	struct daemon *d = w->dl->d;
	struct sw_sink_config *sinks = NULL;
	struct sw_config cfg;
	int r;

	r = deliver_cfg_without(d->cfg, w->sink->name, &cfg, &sinks);
	for (size_t i = 0; r >= 0 && i <= d->cfg->n_tenants; i++)
		r = sw_lifecycle_resolve(d->store, &cfg, SW_RULE_DELIVERY_DEAD,
		                         i < d->cfg->n_tenants ? d->cfg->tenants[i].name : "-", w->sink->name, now);
	free(sinks);
	return r;
}

/* Add a copy of s to the NULL-terminated list *v of *n; NULL or shorter
 * than min is skipped (a URL's path "/" would redact every slash). */
static int secrets_add(char ***v, size_t *n, const char *s, size_t len, size_t min)
{
	char **nv;

	if (s == NULL || len < min || len == 0)
		return 0;
	nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strndup(s, len);
	if (nv[*n] == NULL)
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

/* Add a secret URL (a webhook's, a Teams Workflows' with its sig=): the
 * whole of it, its path and query (8 bytes or more), its query, and each
 * query value of 16 bytes or more (a signature, not api-version's date),
 * since a receiver may echo any of these. */
static int secrets_add_url(char ***v, size_t *n, const char *url)
{
	const char *host = url ? strstr(url, "://") : NULL;
	const char *path = host ? strchr(host + 3, '/') : NULL;
	const char *query = url ? strchr(url, '?') : NULL;
	int r = 0;

	if (url == NULL)
		return 0;
	r = secrets_add(v, n, url, strlen(url), 1);
	if (r >= 0 && path != NULL)
		r = secrets_add(v, n, path, strlen(path), 8);
	if (r >= 0 && query != NULL)
		r = secrets_add(v, n, query + 1, strlen(query + 1), 8);
	for (const char *p = query; r >= 0 && p != NULL; p = strchr(p + 1, '&')) {
		const char *eq = strchr(p, '='), *end = strchr(p + 1, '&');

		if (eq == NULL || (end != NULL && eq > end))
			continue;
		r = secrets_add(v, n, eq + 1, end ? (size_t)(end - eq - 1) : strlen(eq + 1), 16);
	}
	return r;
}

/* Free a list from deliver_secrets(), overwriting each. */
static void deliver_secrets_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		sw_free_secret(v[i]);
	free(v);
}

/* Every configured secret: the tenants' client secrets, the sinks'
 * tokens and HMAC keys, their URLs (url_file holds a secret URL).  NULL on
 * OOM (then nothing is redacted, and the log says so). */
static char **deliver_secrets(const struct sw_config *cfg)
{
	char **v = calloc(1, sizeof(*v)); /* terminated even when empty */
	size_t n = 0;
	int r = 0;

	if (v == NULL)
		return NULL;
	for (size_t i = 0; r >= 0 && i < cfg->n_tenants; i++) {
		const char *s = cfg->tenants[i].client_secret;
		r = secrets_add(&v, &n, s, s ? strlen(s) : 0, 1);
	}
	for (size_t i = 0; r >= 0 && i < cfg->n_sinks; i++) {
		const struct sw_sink_config *s = &cfg->sinks[i];

		r = secrets_add(&v, &n, s->token, s->token ? strlen(s->token) : 0, 1);
		/* A binary key is matched up to its first NUL. */
		if (r >= 0)
			r = secrets_add(&v, &n, s->hmac_key, s->hmac_key ? strlen(s->hmac_key) : 0, 1);
		if (r >= 0 && s->type != SW_SINK_SYSLOG && s->type != SW_SINK_JOURNAL)
			r = secrets_add_url(&v, &n, s->url);
	}
	if (r < 0) {
		deliver_secrets_free(v);
		return NULL;
	}
	return v;
}

/* Record the outcome of the attempt on w->item in its own transaction and
 * log it once.  The item is cleared afterwards. */
static void worker_outcome(struct worker *w, bool ok)
{
	struct daemon *d = w->dl->d;
	struct sw_outbox_item *it = &w->item;
	const char *name = w->sink->name;
	int64_t now = daemon_now(), delay = 0;
	bool dead = false, resolving = ok && w->dead_check;
	char when[32], age[32];
	int r;

	if (!ok) {
		/* The error quotes the receiver (HEC's text, curl's message): a
		 * configured secret it echoed goes neither to status nor the log. */
		sw_redact(w->error, sizeof(w->error), (const char *const *)w->dl->secrets);
		dead = w->permanent || now - it->created >= d->cfg->daemon.dead_after;
		delay = deliver_backoff(it->attempts + 1);
		if (w->retry_after > delay)
			delay = w->retry_after < DELIVER_BACKOFF_MAX ? w->retry_after : DELIVER_BACKOFF_MAX;
	}
	r = sw_store_begin(d->store);
	if (r >= 0) {
		if (ok) {
			r = sw_store_outbox_delivered(d->store, it->id, now);
			if (r >= 0 && resolving)
				r = deliver_dead_resolve(w, now);
		} else if (dead) {
			r = sw_store_outbox_dead(d->store, it->id, now, w->error);
			if (r >= 0)
				r = deliver_dead_fire(w, now);
		} else {
			r = sw_store_outbox_retry(d->store, it->id, now + delay, w->error);
		}
		if (r >= 0)
			r = sw_store_commit(d->store);
		if (r < 0)
			sw_store_rollback(d->store);
	}
	if (r == -ENOENT) {
		log_debug("sink %s: alert %s (transition %d) was no longer queued", name, it->alert_id,
		          it->transition);
	} else if (r < 0) {
		/* The item stays as it was: it is sent again (at least once), but
		 * not before the database had a moment. */
		log_err("sink %s: cannot record the outcome for alert %s (transition %d): %s; retrying in %ds", name,
		        it->alert_id, it->transition, sw_store_errmsg(d->store), DELIVER_STORE_RETRY);
	} else if (ok) {
		if (w->failures > 0)
			log_info("sink %s: delivering again after %d failed attempt%s", name, w->failures,
			         w->failures == 1 ? "" : "s");
		log_debug("sink %s: alert %s (transition %d) delivered", name, it->alert_id, it->transition);
	} else if (dead) {
		deliver_approx(now - it->created, age, sizeof(age));
		log_err("sink %s: alert %s (transition %d) is dead after %d attempt%s over %s: %s; "
		        "raised " SW_RULE_DELIVERY_DEAD " on the other sinks",
		        name, it->alert_id, it->transition, it->attempts + 1, it->attempts == 0 ? "" : "s", age, w->error);
	} else {
		deliver_approx(delay, when, sizeof(when));
		log_warn("sink %s: alert %s (transition %d): %s, retrying in %s", name, it->alert_id, it->transition,
		         w->error, when);
	}
	if (ok)
		w->failures = 0;
	else
		w->failures++;
	if (r >= 0 && ok)
		w->dead_check = false;
	else if (r >= 0 && dead)
		w->dead_check = true;
	/* delivery-dead may have queued rows for the other sinks, whose
	 * workers sleep until told. */
	if (r >= 0 && (dead || resolving))
		deliver_kick(w->dl);
	sw_outbox_item_clear(it);
	if (r < 0 && r != -ENOENT) {
		worker_drained(w);
		worker_arm(w, DELIVER_STORE_RETRY);
	}
}

/* A send that went asynchronous is over: record it, then go on. */
static void worker_finish(struct worker *w, bool ok)
{
	w->busy = false;
	worker_outcome(w, ok);
	if (!evtimer_pending(&w->timer, NULL))
		worker_arm(w, 0);
}

static int send_errno(struct worker *w, const char *what, int err);

/* Lower-case hex of HMAC-SHA256(key, body) into hex (65 bytes). */
static int webhook_sign(const struct sw_sink_config *s, const char *body, size_t len, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t keylen = s->hmac_key_len > 0 ? s->hmac_key_len : strlen(s->hmac_key);

	if (HMAC(EVP_sha256(), s->hmac_key, (int)keylen, (const unsigned char *)body, len, md, &mdlen) == NULL ||
	    mdlen != 32)
		return -EIO;
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[2 * mdlen] = '\0';
	return 0;
}

/* The webhook answered (or the transfer failed). */
static void webhook_done_cb(struct http_response *res, void *arg)
{
	struct worker *w = arg;
	bool ok = res->status >= 200 && res->status <= 299;

	if (!ok) {
		/* curl's text names at most the host, never the URL's path. */
		if (res->status == 0)
			snprintf(w->error, sizeof(w->error), "%s", res->error[0] ? res->error : "no answer");
		else
			snprintf(w->error, sizeof(w->error), "HTTP %ld", res->status);
		if (res->status == 429 || res->status == 503)
			w->retry_after = res->retry_after;
	}
	worker_finish(w, ok);
}

/* POST body as JSON to url with the item's Idempotency-Key and one
 * optional extra header; cb tells the outcome. */
static int http_post(struct worker *w, const char *url, const char *body, size_t len, const char *extra,
                     http_done_cb cb)
{
	char idem[80];
	const char *headers[] = {"Content-Type: application/json", "User-Agent: smtpwatch/" SW_VERSION, idem, extra,
	                         NULL};
	struct http_request req = {0};
	int r;

	snprintf(idem, sizeof(idem), "Idempotency-Key: %s-%d", w->item.alert_id, w->item.transition);
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = len;
	req.timeout_ms = DELIVER_HTTP_TIMEOUT_MS;
	req.cb = cb;
	req.arg = w;
	r = http_submit(w->dl->d->http, &req);
	if (r < 0) {
		snprintf(w->error, sizeof(w->error), "cannot start the request: %s", strerror(-r));
		return SEND_FAILED;
	}
	return SEND_PENDING;
}

/* POST the stored body, byte for byte, to the webhook. */
static int webhook_send(struct worker *w)
{
	const struct sw_sink_config *s = w->sink;
	const char *body = w->item.body;
	size_t len = strlen(body);
	char sig[128], hex[65];

	if (s->hmac_key != NULL) {
		if (webhook_sign(s, body, len, hex) < 0) {
			snprintf(w->error, sizeof(w->error), "cannot compute the HMAC signature");
			return SEND_FAILED;
		}
		snprintf(sig, sizeof(sig), "X-Smtpwatch-Signature: sha256=%s", hex);
	}
	return http_post(w, s->url, body, len, s->hmac_key != NULL ? sig : NULL, webhook_done_cb);
}

/* Parse the stored document; a broken one can never be sent (dead now). */
static json_t *worker_doc(struct worker *w)
{
	json_error_t jerr;
	json_t *doc = json_loads(w->item.body, 0, &jerr);

	if (doc == NULL) {
		w->permanent = true;
		snprintf(w->error, sizeof(w->error), "the stored alert document is not JSON: %s", jerr.text);
	}
	return doc;
}

/* POST the alert as an Adaptive Card to the Teams Workflows URL; any 2xx
 * (Workflows answer 202 with an empty body) is success. */
static int teams_send(struct worker *w)
{
	struct sw_buf body = {0};
	json_t *doc;
	int r;

	doc = worker_doc(w);
	if (doc == NULL)
		return SEND_FAILED;
	r = sw_render_teams(doc, &body);
	json_decref(doc);
	if (r < 0) {
		sw_buf_clear(&body);
		w->permanent = r == -EINVAL;
		return send_errno(w, "cannot render the card", -r);
	}
	r = http_post(w, w->sink->url, body.data, body.len, NULL, webhook_done_cb);
	sw_buf_clear(&body);
	return r;
}

/* Splunk answered (or the transfer failed): HEC's code decides. */
static void hec_done_cb(struct http_response *res, void *arg)
{
	struct worker *w = arg;
	struct sw_hec_result hr;
	char code[160] = "", *body = NULL;
	size_t cap = res->body.len * 2 + 256;

	/* Redact the whole answer before its text is cut to size: a secret
	 * cut in half would no longer be found. */
	if (res->body.data != NULL && res->body.len > 0 && (body = malloc(cap)) != NULL) {
		memcpy(body, res->body.data, res->body.len);
		body[res->body.len] = '\0';
		sw_redact(body, cap, (const char *const *)w->dl->secrets);
	}
	sw_render_hec_result(res->status, body ? body : res->body.data, body ? strlen(body) : res->body.len, &hr);
	free(body);
	if (hr.outcome == SW_HEC_OK) {
		worker_finish(w, true);
		return;
	}
	if (hr.code >= 0)
		snprintf(code, sizeof(code), "HEC code %d: %s, ", hr.code, hr.text[0] ? hr.text : "?");
	switch (hr.outcome) {
	case SW_HEC_TOKEN:
		snprintf(w->error, sizeof(w->error), "token rejected (%sHTTP %ld): check token_file", code,
		         res->status);
		break;
	case SW_HEC_CONFIG:
		snprintf(w->error, sizeof(w->error), "HEC refused the request (%sHTTP %ld): check the sink", code,
		         res->status);
		break;
	case SW_HEC_REJECTED:
		w->permanent = true;
		snprintf(w->error, sizeof(w->error), "HEC rejected the event (%sHTTP %ld)", code, res->status);
		break;
	default:
		if (res->status == 0)
			snprintf(w->error, sizeof(w->error), "%s", res->error[0] ? res->error : "no answer");
		else
			snprintf(w->error, sizeof(w->error), "%sHTTP %ld", code, res->status);
		w->retry_after = res->retry_after;
		break;
	}
	worker_finish(w, false);
}

/* POST the alert as a HEC event with the sink's token. */
static int hec_send(struct worker *w)
{
	struct sw_buf body = {0};
	char *auth = NULL;
	json_t *doc;
	int r;

	doc = worker_doc(w);
	if (doc == NULL)
		return SEND_FAILED;
	/* The transition's time, not the attempt's: a resent event is the same. */
	r = sw_render_hec(doc, w->dl->hostname, w->item.created * 1000, &body);
	json_decref(doc);
	if (r < 0) {
		sw_buf_clear(&body);
		w->permanent = r == -EINVAL;
		return send_errno(w, "cannot render the event", -r);
	}
	if (asprintf(&auth, "Authorization: Splunk %s", w->sink->token) < 0) {
		sw_buf_clear(&body);
		return send_errno(w, "header", ENOMEM);
	}
	r = http_post(w, w->url, body.data, body.len, auth, hec_done_cb);
	sw_free_secret(auth);
	sw_buf_clear(&body);
	return r;
}

/* Write the alert to the journal: its fields as SMTPWATCH_*, the rule's
 * MESSAGE_ID and PRIORITY.  sd_journal_sendv() reports success when no
 * journald listens (it drops the entry on purpose), so the socket is
 * looked for first: without it the alert stays queued. */
static int journal_send(struct worker *w)
{
	struct iovec *iov = NULL;
	char **fields = NULL;
	size_t n = 0;
	json_t *doc;
	int r;

	if (access(DELIVER_JOURNAL_SOCKET, W_OK) < 0)
		return send_errno(w, "journald is not running (" DELIVER_JOURNAL_SOCKET ")", errno);
	doc = worker_doc(w);
	if (doc == NULL)
		return SEND_FAILED;
	r = sw_render_journal(doc, &fields, &n);
	json_decref(doc);
	if (r < 0) {
		w->permanent = r == -EINVAL;
		return send_errno(w, "cannot render the journal fields", -r);
	}
	iov = calloc(n, sizeof(*iov));
	if (iov == NULL) {
		sw_render_journal_free(fields, n);
		return send_errno(w, "journal", ENOMEM);
	}
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = fields[i];
		iov[i].iov_len = strlen(fields[i]);
	}
	r = sd_journal_sendv(iov, (int)n);
	free(iov);
	sw_render_journal_free(fields, n);
	if (r < 0)
		return send_errno(w, "sd_journal_sendv", -r);
	return SEND_OK;
}

/* Close the stream connection, if any (a TLS one with a close_notify
 * when the socket takes it at once: nobody waits for the answer). */
static void stream_close(struct worker *w)
{
	if (w->io_assigned) {
		event_del(&w->io);
		w->io_assigned = false;
	}
	if (w->ssl != NULL) {
		if (w->handshaken)
			SSL_shutdown(w->ssl);
		SSL_free(w->ssl);
		w->ssl = NULL;
	}
	w->handshaken = false;
	if (w->sfd >= 0)
		close(w->sfd);
	w->sfd = -1;
	w->connected = false;
}

/* Has the receiver closed the idle connection?  A syslog receiver never
 * talks back, so readable means EOF or reset; checking before each frame
 * keeps the frame from vanishing into a half-closed socket. */
static bool stream_gone(struct worker *w)
{
	char scratch[512];
	ssize_t n;

	/* Through TLS: the bytes on the socket are records (a TLS 1.3 server
	 * sends session tickets after the handshake), so read them as such. */
	while (w->ssl != NULL) {
		int r;

		ERR_clear_error();
		r = SSL_read(w->ssl, scratch, sizeof(scratch));
		if (r > 0)
			continue;
		r = SSL_get_error(w->ssl, r);
		return r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE;
	}
	for (;;) {
		n = recv(w->sfd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n > 0)
			continue; /* chatter: discard */
		if (n == 0)
			return true;
		if (errno == EINTR)
			continue;
		return errno != EAGAIN && errno != EWOULDBLOCK;
	}
}

/* Fail the attempt with errno's text. */
static int send_errno(struct worker *w, const char *what, int err)
{
	snprintf(w->error, sizeof(w->error), "%s: %s", what, strerror(err));
	return SEND_FAILED;
}

static void stream_io_cb(evutil_socket_t fd, short what, void *arg);

/* Wait until the connection is connected or can take more (EV_WRITE),
 * or, for TLS, has the bytes the handshake needs (EV_READ). */
static int stream_wait(struct worker *w, short what)
{
	struct timeval tv = {DELIVER_STREAM_TIMEOUT, 0};

	if (w->io_assigned)
		event_del(&w->io);
	event_assign(&w->io, w->dl->d->base, w->sfd, what, stream_io_cb, w);
	w->io_assigned = true;
	event_add(&w->io, &tv);
	return SEND_PENDING;
}

/* A TLS call failed with SSL_get_error() code err: the reason in
 * w->error (the certificate's, when verification failed), the connection
 * closed. */
static int tls_fail(struct worker *w, const char *what, int err)
{
	long v = w->ssl != NULL ? SSL_get_verify_result(w->ssl) : X509_V_OK;
	unsigned long e = ERR_peek_last_error();
	char buf[120];

	if (v != X509_V_OK && !w->handshaken)
		snprintf(w->error, sizeof(w->error), "%s with %.100s: certificate verify failed: %s", what, w->host,
		         X509_verify_cert_error_string(v));
	else if (e != 0)
		snprintf(w->error, sizeof(w->error), "%s with %.100s: %s", what, w->host,
		         (ERR_error_string_n(e, buf, sizeof(buf)), buf));
	else if (err == SSL_ERROR_SYSCALL && errno != 0)
		snprintf(w->error, sizeof(w->error), "%s with %.100s: %s", what, w->host, strerror(errno));
	else
		snprintf(w->error, sizeof(w->error), "%s with %.100s: the connection was closed", what, w->host);
	ERR_clear_error();
	stream_close(w);
	return SEND_FAILED;
}

static int stream_write(struct worker *w);

/* Run the TLS handshake on the connected socket as far as it goes without
 * blocking; the frame follows once it is done.  The certificate is
 * checked as curl checks https: a chain to the system's CAs (or ca_file)
 * and the configured host name, or IP address, in it. */
static int tls_handshake(struct worker *w)
{
	unsigned char ip[16];
	int r;

	if (w->ssl == NULL) {
		bool literal = inet_pton(AF_INET, w->host, ip) == 1 || inet_pton(AF_INET6, w->host, ip) == 1;

		w->ssl = SSL_new(w->tls_ctx);
		if (w->ssl == NULL || SSL_set_fd(w->ssl, w->sfd) != 1 ||
		    (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(w->ssl), w->host) != 1
		             : SSL_set1_host(w->ssl, w->host) != 1 || SSL_set_tlsext_host_name(w->ssl, w->host) != 1))
			return tls_fail(w, "TLS setup", SSL_ERROR_SSL);
		SSL_set_hostflags(w->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS); /* as curl does */
		SSL_set_mode(w->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_connect(w->ssl);
	if (r == 1) {
		w->handshaken = true;
		return stream_write(w);
	}
	r = SSL_get_error(w->ssl, r);
	if (r == SSL_ERROR_WANT_READ)
		return stream_wait(w, EV_READ);
	if (r == SSL_ERROR_WANT_WRITE)
		return stream_wait(w, EV_WRITE);
	return tls_fail(w, "TLS handshake", r);
}

/* Write what is left of the frame through TLS without blocking. */
static int tls_write(struct worker *w)
{
	while (w->off < w->frame.len) {
		int n, err;

		ERR_clear_error();
		errno = 0;
		n = SSL_write(w->ssl, w->frame.data + w->off, (int)(w->frame.len - w->off));
		if (n > 0) {
			w->off += (size_t)n;
			continue;
		}
		err = SSL_get_error(w->ssl, n);
		if (err == SSL_ERROR_WANT_WRITE)
			return stream_wait(w, EV_WRITE);
		if (err == SSL_ERROR_WANT_READ)
			return stream_wait(w, EV_READ);
		return tls_fail(w, "TLS write", err);
	}
	return SEND_OK;
}

/* Write what is left of the frame without blocking. */
static int stream_write(struct worker *w)
{
	if (w->ssl != NULL)
		return tls_write(w);
	while (w->off < w->frame.len) {
		ssize_t n = send(w->sfd, w->frame.data + w->off, w->frame.len - w->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return stream_wait(w, EV_WRITE);
		if (n < 0) {
			int err = errno;
			stream_close(w);
			return send_errno(w, "send", err);
		}
		w->off += (size_t)n;
	}
	return SEND_OK;
}

/* The stream connection became writable, or timed out. */
static void stream_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int r;

	if (what & EV_TIMEOUT) {
		snprintf(w->error, sizeof(w->error), "%s timed out after %ds",
		         !w->connected ? "connect" : w->transport == TRANSPORT_TLS && !w->handshaken ? "TLS handshake" : "send",
		         DELIVER_STREAM_TIMEOUT);
		stream_close(w);
		r = SEND_FAILED;
	} else if (!w->connected) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(w->sfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			stream_close(w);
			r = send_errno(w, "connect", err);
		} else {
			w->connected = true;
			r = w->transport == TRANSPORT_TLS ? tls_handshake(w) : stream_write(w);
		}
	} else if (w->transport == TRANSPORT_TLS && !w->handshaken) {
		r = tls_handshake(w);
	} else {
		r = stream_write(w);
	}
	if (r != SEND_PENDING)
		worker_finish(w, r == SEND_OK);
}

/* Send w->msg on the stream (TCP, TLS, or a SOCK_STREAM unix socket) with
 * octet counting (RFC 6587, and RFC 5425 for TLS: "LEN SP MSG"),
 * connecting (and shaking hands) first when needed.  The connection stays
 * open for the next frames. */
static int stream_send(struct worker *w)
{
	int family = w->addr.ss_family;

	w->frame.len = 0;
	w->off = 0;
	if (sw_buf_printf(&w->frame, "%zu ", w->msg.len) < 0 || sw_buf_append(&w->frame, w->msg.data, w->msg.len) < 0)
		return send_errno(w, "frame", ENOMEM);
	if (w->sfd >= 0 && w->connected && (w->transport != TRANSPORT_TLS || w->handshaken) && stream_gone(w))
		stream_close(w);
	if (w->sfd >= 0)
		return w->transport == TRANSPORT_TLS && !w->handshaken ? tls_handshake(w) : stream_write(w);
	w->sfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (w->sfd < 0)
		return send_errno(w, "socket", errno);
	if (connect(w->sfd, (const struct sockaddr *)&w->addr, w->addrlen) == 0) {
		w->connected = true;
		return w->transport == TRANSPORT_TLS ? tls_handshake(w) : stream_write(w);
	}
	if (errno == EINPROGRESS)
		return stream_wait(w, EV_WRITE);
	int err = errno;
	stream_close(w);
	if (w->transport == TRANSPORT_UNIX)
		w->unix_stream = false; /* next time, try a datagram first again */
	return send_errno(w, "connect", err);
}

/* One datagram: UDP (connected socket) or a unix datagram socket (sendto,
 * falling back to a stream when the socket is not a datagram one). */
static int dgram_send(struct worker *w)
{
	ssize_t n;

	if (w->dfd < 0) {
		w->dfd = socket(w->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (w->dfd < 0)
			return send_errno(w, "socket", errno);
		if (w->transport == TRANSPORT_UDP &&
		    connect(w->dfd, (const struct sockaddr *)&w->addr, w->addrlen) < 0) {
			int err = errno;
			close(w->dfd);
			w->dfd = -1;
			return send_errno(w, "connect", err);
		}
	}
	do {
		if (w->transport == TRANSPORT_UDP)
			n = send(w->dfd, w->msg.data, w->msg.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = sendto(w->dfd, w->msg.data, w->msg.len, MSG_NOSIGNAL | MSG_DONTWAIT,
			           (const struct sockaddr *)&w->addr, w->addrlen);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return SEND_OK;
	if (w->transport == TRANSPORT_UNIX && (errno == EPROTOTYPE || errno == ECONNREFUSED)) {
		w->unix_stream = true;
		return stream_send(w);
	}
	/* EAGAIN: the receiver's queue is full; the item is retried later. */
	return send_errno(w, "send", errno);
}

/* Render the stored document as RFC 5424 and send it. */
static int syslog_send(struct worker *w, int64_t now)
{
	json_t *doc;
	int r;

	doc = worker_doc(w);
	if (doc == NULL)
		return SEND_FAILED;
	w->msg.len = 0;
	r = sw_render_syslog(doc, w->sink->facility, w->dl->hostname, now, &w->msg);
	json_decref(doc);
	if (r < 0) {
		w->permanent = r == -EINVAL;
		return send_errno(w, "cannot render the alert", -r);
	}
	if (w->transport == TRANSPORT_TCP || w->transport == TRANSPORT_TLS ||
	    (w->transport == TRANSPORT_UNIX && w->unix_stream))
		return stream_send(w);
	return dgram_send(w);
}

/* Start sending w->item: SEND_OK or SEND_FAILED when done at once,
 * SEND_PENDING when a callback will tell. */
static int worker_send(struct worker *w, int64_t now)
{
	w->error[0] = '\0';
	w->permanent = false;
	w->retry_after = -1;
	switch (w->sink->type) {
	case SW_SINK_WEBHOOK:
		return webhook_send(w);
	case SW_SINK_TEAMS:
		return teams_send(w);
	case SW_SINK_SPLUNK_HEC:
		return hec_send(w);
	case SW_SINK_SYSLOG:
		return syslog_send(w, now);
	case SW_SINK_JOURNAL:
		return journal_send(w);
	default:
		snprintf(w->error, sizeof(w->error), "type %s is not supported", sw_sink_type_name(w->sink->type));
		return SEND_FAILED;
	}
}

/* Take due items one after the other until none is due or one is in
 * flight; then sleep until the earliest next attempt.  A drain takes the
 * items due when it started, including those whose back-off has not yet
 * elapsed by the daemon's timers, and tries each once. */
static void worker_run(struct worker *w)
{
	struct sw_store *store = w->dl->d->store;
	const char *name = w->sink->name;
	int64_t now, due;
	int r = 0, sent;

	if (!w->usable || w->busy)
		return;
	now = daemon_now();
	for (int i = 0; i < DELIVER_BATCH; i++) {
		now = daemon_now();
		r = sw_store_outbox_next(store, name, w->draining ? w->dl->drain_now : now, &w->item);
		if (r < 0)
			break;
		sent = worker_send(w, now);
		if (sent == SEND_PENDING) {
			w->busy = true;
			return;
		}
		worker_outcome(w, sent == SEND_OK);
		if (evtimer_pending(&w->timer, NULL))
			return; /* the outcome could not be recorded: wait */
	}
	if (r == 0) {
		worker_arm(w, 0); /* more may be due: let the rest of the loop run first */
		return;
	}
	if (r != -ENOENT) {
		log_err("sink %s: cannot read the outbox: %s; retrying in %ds", name, sw_store_errmsg(store),
		        DELIVER_STORE_RETRY);
		worker_drained(w);
		worker_arm(w, DELIVER_STORE_RETRY);
		return;
	}
	worker_drained(w);
	r = sw_store_outbox_next_due(store, name, &due);
	if (r == 0)
		worker_arm(w, due > now ? due - now : 1);
	else if (r != -ENOENT) {
		log_err("sink %s: cannot read the outbox: %s; retrying in %ds", name, sw_store_errmsg(store),
		        DELIVER_STORE_RETRY);
		worker_arm(w, DELIVER_STORE_RETRY);
	}
	/* -ENOENT: nothing queued; deliver_kick() wakes the worker. */
}

/* Split "host:port", "[v6]:port", "host" (default port) for getaddrinfo. */
static int split_host_port(const char *s, char *host, size_t hn, char *port, size_t pn, const char *defport)
{
	const char *colon, *end;

	if (*s == '[') {
		end = strchr(s, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return -EINVAL;
		colon = end[1] == ':' ? end + 1 : NULL;
		s++;
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL; /* a bare IPv6 address */
		end = colon ? colon : s + strlen(s);
	}
	if (end == s || (size_t)(end - s) >= hn)
		return -EINVAL;
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	snprintf(port, pn, "%s", colon && colon[1] ? colon + 1 : defport);
	return 0;
}

/* The TLS context of a tls:// sink: TLS 1.2 or later, the peer verified
 * against ca_file or the system's CAs.  0, or -EINVAL with why. */
static int tls_setup(struct worker *w, char *why, size_t n)
{
	const char *ca = w->sink->ca_file;
	unsigned long e;

	w->tls_ctx = SSL_CTX_new(TLS_client_method());
	if (w->tls_ctx == NULL || SSL_CTX_set_min_proto_version(w->tls_ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_verify(w->tls_ctx, SSL_VERIFY_PEER, NULL);
	if ((ca != NULL ? SSL_CTX_load_verify_locations(w->tls_ctx, ca, NULL)
	                : SSL_CTX_set_default_verify_paths(w->tls_ctx)) != 1)
		goto fail;
	return 0;
fail:
	e = ERR_get_error();
	snprintf(why, n, "cannot set up TLS%s%s: %s", ca ? " with ca_file " : "", ca ? ca : "",
	         e ? ERR_reason_error_string(e) : "out of memory");
	ERR_clear_error();
	SSL_CTX_free(w->tls_ctx);
	w->tls_ctx = NULL;
	return -EINVAL;
}

/* Parse the syslog address once: unix:PATH, udp://HOST[:PORT] (514),
 * tcp://HOST[:PORT] (601), tls://HOST[:PORT] (6514).  Numeric hosts
 * resolve without a lookup; a name is looked up here, at (re)load, so
 * sending never waits on DNS. */
static int syslog_setup(struct worker *w, char *why, size_t n)
{
	const char *a = w->sink->address ? w->sink->address : "unix:/dev/log";
	struct addrinfo hints = {0}, *res = NULL;
	char host[256], port[16];
	int r;

	if (strncmp(a, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&w->addr;
		size_t len = strlen(a + 5);

		if (len == 0 || len >= sizeof(sun->sun_path)) {
			snprintf(why, n, "unix socket path empty or too long");
			return -EINVAL;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, a + 5, len + 1);
		w->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
		w->transport = TRANSPORT_UNIX;
		return 0;
	}
	if (strncmp(a, "udp://", 6) == 0)
		w->transport = TRANSPORT_UDP;
	else if (strncmp(a, "tcp://", 6) == 0)
		w->transport = TRANSPORT_TCP;
	else if (strncmp(a, "tls://", 6) == 0)
		w->transport = TRANSPORT_TLS;
	else {
		snprintf(why, n, "address %s is not unix:PATH, udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT", a);
		return -EINVAL;
	}
	if (split_host_port(a + 6, host, sizeof(host), port, sizeof(port),
	                    w->transport == TRANSPORT_UDP   ? "514"
	                    : w->transport == TRANSPORT_TLS ? "6514"
	                                                    : "601") < 0) {
		snprintf(why, n, "address %s: cannot tell host from port", a);
		return -EINVAL;
	}
	hints.ai_socktype = w->transport == TRANSPORT_UDP ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	r = getaddrinfo(host, port, &hints, &res);
	if (r == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		r = getaddrinfo(host, port, &hints, &res);
	}
	if (r != 0) {
		snprintf(why, n, "address %s: %s", a, gai_strerror(r));
		return -EINVAL;
	}
	memcpy(&w->addr, res->ai_addr, res->ai_addrlen);
	w->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(w->host, sizeof(w->host), "%s", host);
	return w->transport == TRANSPORT_TLS ? tls_setup(w, why, n) : 0;
}

/* The HEC event endpoint: the url as given when it names a collector
 * endpoint, else the url plus /services/collector/event. */
static int hec_setup(struct worker *w)
{
	const char *u = w->sink->url;
	size_t n = strlen(u);

	if (strstr(u, "/services/collector") != NULL) {
		w->url = strdup(u);
	} else {
		while (n > 0 && u[n - 1] == '/')
			n--;
		if (asprintf(&w->url, "%.*s/services/collector/event", (int)n, u) < 0)
			w->url = NULL;
	}
	return w->url != NULL ? 0 : -ENOMEM;
}

/* Set a worker up for its sink; an unusable one leaves its items queued. */
static void worker_init(struct deliver *dl, struct worker *w, const struct sw_sink_config *sink)
{
	char why[320];

	w->dl = dl;
	w->sink = sink;
	w->dfd = -1;
	w->sfd = -1;
	w->retry_after = -1;
	w->dead_check = true; /* a delivery-dead alert may be left from an earlier run */
	evtimer_assign(&w->timer, dl->d->base, worker_timer_cb, w);
	switch (sink->type) {
	case SW_SINK_WEBHOOK:
	case SW_SINK_TEAMS:
		w->usable = sink->url != NULL;
		if (!w->usable)
			log_err("sink %s: no url; its alerts stay queued", sink->name);
		break;
	case SW_SINK_SPLUNK_HEC:
		w->usable = sink->url != NULL && sink->token != NULL && hec_setup(w) == 0;
		if (!w->usable)
			log_err("sink %s: no url or token; its alerts stay queued", sink->name);
		break;
	case SW_SINK_JOURNAL:
		w->usable = true;
		break;
	case SW_SINK_SYSLOG:
		w->usable = syslog_setup(w, why, sizeof(why)) == 0;
		if (!w->usable)
			log_err("sink %s: %s; its alerts stay queued until the configuration is fixed and reloaded",
			        sink->name, why);
		break;
	default:
		log_warn("sink %s: type %s is not supported in this version; its alerts stay queued", sink->name,
		         sw_sink_type_name(sink->type));
		break;
	}
}

/* See deliver.h.  Workers look at the outbox as soon as the loop runs, so
 * items left queued by an earlier run go out without waiting for a poll. */
struct deliver *deliver_new(struct daemon *d)
{
	struct deliver *dl;

	dl = calloc(1, sizeof(*dl));
	if (dl == NULL)
		return NULL;
	dl->d = d;
	dl->n_workers = d->cfg->n_sinks;
	if (dl->n_workers > 0) {
		dl->workers = calloc(dl->n_workers, sizeof(*dl->workers));
		if (dl->workers == NULL) {
			free(dl);
			return NULL;
		}
	}
	if (gethostname(dl->hostname, sizeof(dl->hostname) - 1) < 0)
		dl->hostname[0] = '\0';
	dl->secrets = deliver_secrets(d->cfg);
	if (dl->secrets == NULL)
		log_warn("out of memory listing the configured secrets: a receiver's error text is not redacted");
	/* The log redacts them too, in every line (a token endpoint's or a
	 * receiver's text may be quoted anywhere). */
	log_set_secrets((const char *const *)dl->secrets);
	event_assign(&dl->drain_ev, d->base, -1, 0, deliver_drain_cb, dl);
	for (size_t i = 0; i < dl->n_workers; i++) {
		worker_init(dl, &dl->workers[i], &d->cfg->sinks[i]);
		if (dl->workers[i].usable)
			worker_arm(&dl->workers[i], 0);
	}
	return dl;
}

/* See deliver.h.  A send in flight is abandoned: its item stays queued and
 * is sent again later (the Idempotency-Key lets a receiver notice). */
void deliver_free(struct deliver *dl)
{
	if (dl == NULL)
		return;
	for (size_t i = 0; i < dl->n_workers; i++) {
		struct worker *w = &dl->workers[i];

		if (w->dl == NULL)
			continue;
		if (dl->d->http != NULL)
			http_cancel_arg(dl->d->http, w);
		event_del(&w->timer);
		stream_close(w);
		if (w->dfd >= 0)
			close(w->dfd);
		sw_outbox_item_clear(&w->item);
		sw_buf_clear(&w->msg);
		sw_buf_clear(&w->frame);
		SSL_CTX_free(w->tls_ctx);
		free(w->url);
	}
	event_del(&dl->drain_ev);
	deliver_secrets_free(dl->secrets);
	free(dl->workers);
	free(dl);
}

/* See deliver.h. */
void deliver_kick(struct deliver *dl)
{
	if (dl == NULL)
		return;
	for (size_t i = 0; i < dl->n_workers; i++) {
		struct worker *w = &dl->workers[i];

		/* A busy worker looks for the next item when its send ends. */
		if (w->usable && !w->busy)
			worker_arm(w, 0);
	}
}

/* See deliver.h. */
void deliver_drain(struct deliver *dl, void (*done)(void *arg), void *arg)
{
	dl->drain_done = done;
	dl->drain_arg = arg;
	dl->drain_now = daemon_now();
	for (size_t i = 0; i < dl->n_workers; i++) {
		struct worker *w = &dl->workers[i];

		w->draining = w->usable;
		if (w->usable && !w->busy)
			worker_arm(w, 0);
	}
	deliver_check_drain(dl);
}

/* See deliver.h. */
int deliver_active(const struct deliver *dl)
{
	int n = 0;

	if (dl == NULL)
		return 0;
	for (size_t i = 0; i < dl->n_workers; i++)
		n += dl->workers[i].busy;
	return n;
}

/* See deliver.h.  Besides the counters: "supported" is false for a sink
 * this version cannot send to (its alerts stay queued). */
json_t *deliver_status(struct deliver *dl)
{
	json_t *all = json_object();

	for (size_t i = 0; dl != NULL && all != NULL && i < dl->n_workers; i++) {
		struct worker *w = &dl->workers[i];
		struct sw_outbox_stats st;
		char last[32];
		json_t *o;

		if (sw_store_outbox_stats(dl->d->store, w->sink->name, &st) < 0) {
			o = json_pack("{s:s,s:b,s:s}", "type", sw_sink_type_name(w->sink->type), "supported", w->usable,
			              "error", sw_store_errmsg(dl->d->store));
		} else {
			if (st.last_success > 0)
				sw_time_format(st.last_success, last, sizeof(last));
			o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:s?,s:s?}", "type", sw_sink_type_name(w->sink->type),
			              "supported", w->usable, "queued", (json_int_t)st.queued, "delivered",
			              (json_int_t)st.delivered, "failed", (json_int_t)st.failed_attempts, "dead",
			              (json_int_t)st.dead, "last_error", st.last_error[0] ? st.last_error : NULL,
			              "last_success", st.last_success > 0 ? last : NULL);
		}
		if (o != NULL)
			json_object_set_new(all, w->sink->name, o);
	}
	return all;
}
