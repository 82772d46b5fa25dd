/* auth.c: token cache of one tenant.  One token per resource, since Entra
 * issues a token for exactly one audience; concurrent askers for the same
 * resource share one request.
 *
 * Pacing: a token endpoint that answers with a tiny or absurd expires_in
 * must not turn every page into a token request.  So, per resource:
 * - a cached token is renewed AUTH_RENEW_BEFORE (or half its lifetime, if
 *   shorter) before it expires, but never sooner than AUTH_RENEW_AFTER
 *   after it was requested; an expired token is never handed out;
 * - two token requests are at least AUTH_GAP_MS apart, whatever asks
 *   (expiry, a 401 that invalidated the token, a new run); after three
 *   failures in a row the gap doubles up to AUTH_GAP_MAX_MS, and a token
 *   resets it.  A request that must wait is held on a timer, its askers
 *   waiting with it. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "http.h"
#include "jwt.h"
#include "log.h"
#include "smtpwatchd.h"
#include "token.h"

#define AUTH_RENEW_BEFORE 300 /* seconds before expiry */
#define AUTH_RENEW_AFTER 60   /* seconds after the request, at the earliest */
#define AUTH_GAP_MS 10000     /* between two token requests of one resource */
#define AUTH_GAP_MAX_MS 300000
#define AUTH_MAX_WAITERS 8

struct auth_waiter {
	auth_cb cb;
	void *arg;
};

struct auth_slot {
	struct auth *auth;
	char *resource;
	struct sw_token token;
	bool fetching;
	struct auth_waiter waiters[AUTH_MAX_WAITERS];
	int n_waiters;
	/* A request that could not be sent fails from the event loop, like
	 * one that was: callers never see their callback inside auth_fetch. */
	struct event fail_ev;
	char *fail_why; /* heap: most slots never fail */
	/* Pacing (see the top of this file). */
	struct event pace_ev;   /* a request held back until its turn */
	int64_t requested_ms;   /* monotonic, of the last request sent; 0: none */
	int64_t requested_at;   /* wall clock of the same */
	int64_t renew_at;       /* wall clock: renew the cached token from here */
	int failures;           /* token requests failed in a row */
	bool lifetime_logged;   /* an odd expires_in is logged once */
};

/* What certificate_file was when it was last read: a change means read it again. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct auth {
	struct tenant *tenant;
	struct auth_slot slots[2]; /* Graph and Exchange */
	int n_slots;
	struct sw_cert *cert;     /* certificate_file tenants; NULL while unusable */
	enum sw_jwt_alg alg;
	struct file_id cert_id;   /* of the file cert (or cert_error) came from */
	bool cert_tried;
	char *cert_error;         /* why cert is NULL (heap; NULL: no error); never key material */
};

/* Read certificate_file again if it changed since the last read (or never
 * was); logs what it found, once per version of the file. */
static void auth_cert_refresh(struct auth *a)
{
	const struct sw_tenant_config *tc = a->tenant->cfg;
	struct sw_error err = {0};
	struct sw_cert *c = NULL;
	struct file_id id = {0};
	struct stat st;
	char until[32];

	if (tc->certificate_file == NULL)
		return;
	if (stat(tc->certificate_file, &st) == 0)
		id = (struct file_id){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
	if (a->cert_tried && memcmp(&id, &a->cert_id, sizeof(id)) == 0)
		return;
	a->cert_tried = true;
	a->cert_id = id;
	if (sw_cert_load(tc->certificate_file, &c, &err) < 0) {
		char why[360];
		sw_cert_free(a->cert);
		a->cert = NULL;
		snprintf(why, sizeof(why), "certificate_file %s: %s", tc->certificate_file, err.text);
		free(a->cert_error);
		a->cert_error = strdup(why);
		log_err("tenant %s: %s; no token can be requested until it is fixed", tc->name, why);
		return;
	}
	sw_cert_free(a->cert);
	a->cert = c;
	free(a->cert_error);
	a->cert_error = NULL;
	sw_time_format(c->not_after, until, sizeof(until));
	log_info("tenant %s: certificate %s (thumbprint %s, RSA %d, %s) valid until %s", tc->name, c->subject,
	         c->thumbprint, c->bits, sw_jwt_alg_name(a->alg), until);
	int days = sw_cert_days_left(c, daemon_now());
	if (days < 0)
		log_warn("tenant %s: certificate %s expired on %s: the token endpoint will refuse it", tc->name,
		         c->thumbprint, until);
	else if (days < 30)
		log_warn("tenant %s: certificate %s expires in %d day%s (%s)", tc->name, c->thumbprint, days,
		         days == 1 ? "" : "s", until);
}

/* Create an empty cache for tenant t, with its certificate if it has one. */
struct auth *auth_new(struct tenant *t)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->tenant = t;
	if (sw_jwt_alg_parse(t->cfg->assertion_alg, &a->alg) < 0)
		a->alg = SW_JWT_PS256;
	auth_cert_refresh(a);
	return a;
}

/* See auth.h. */
int64_t auth_cert_not_after(struct auth *a)
{
	if (a == NULL)
		return 0;
	auth_cert_refresh(a);
	return a->cert != NULL ? a->cert->not_after : 0;
}

/* Free the cache, cancelling token requests in flight. */
void auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	for (int i = 0; i < a->n_slots; i++) {
		http_cancel_arg(a->tenant->daemon->http, &a->slots[i]);
		if (event_initialized(&a->slots[i].fail_ev))
			event_del(&a->slots[i].fail_ev);
		if (event_initialized(&a->slots[i].pace_ev))
			event_del(&a->slots[i].pace_ev);
		free(a->slots[i].resource);
		free(a->slots[i].fail_why);
		sw_token_clear(&a->slots[i].token);
	}
	sw_cert_free(a->cert);
	free(a->cert_error);
	free(a);
}

/* The slot of resource, created on first use. */
static struct auth_slot *auth_slot(struct auth *a, const char *resource)
{
	for (int i = 0; i < a->n_slots; i++)
		if (strcmp(a->slots[i].resource, resource) == 0)
			return &a->slots[i];
	if (a->n_slots == (int)(sizeof(a->slots) / sizeof(a->slots[0])))
		return NULL;
	struct auth_slot *s = &a->slots[a->n_slots];
	memset(s, 0, sizeof(*s));
	s->resource = strdup(resource);
	if (s->resource == NULL)
		return NULL;
	s->auth = a;
	a->n_slots++;
	return s;
}

/* See auth.h. */
const char *auth_cached(struct auth *a, const char *resource)
{
	struct auth_slot *s = auth_slot(a, resource);
	int64_t now = daemon_now();

	if (s == NULL || s->token.access_token == NULL)
		return NULL;
	if (now >= s->token.expires_at || now >= s->renew_at)
		return NULL;
	return s->token.access_token;
}

/* See auth.h. */
void auth_invalidate(struct auth *a, const char *resource)
{
	struct auth_slot *s = auth_slot(a, resource);

	if (s != NULL)
		sw_token_clear(&s->token);
}

/* See auth.h. */
void auth_forget(struct auth *a, void *arg)
{
	for (int i = 0; i < a->n_slots; i++) {
		struct auth_slot *s = &a->slots[i];
		for (int j = 0; j < s->n_waiters; j++) {
			if (s->waiters[j].arg == arg) {
				memmove(&s->waiters[j], &s->waiters[j + 1],
				        (size_t)(s->n_waiters - j - 1) * sizeof(s->waiters[0]));
				s->n_waiters--;
				j--;
			}
		}
	}
}

/* Hand the outcome of a fetch to everyone waiting for it. */
static void auth_deliver(struct auth_slot *s, const char *why, long status)
{
	/* Callbacks may ask again (and re-add waiters): take the list first. */
	struct auth_waiter w[AUTH_MAX_WAITERS];
	int n = s->n_waiters;

	memcpy(w, s->waiters, sizeof(w));
	s->n_waiters = 0;
	for (int i = 0; i < n; i++)
		w[i].cb(why ? NULL : s->token.access_token, why, status, w[i].arg);
}

/* A fetch that could not be sent (the credential is unusable) fails now. */
static void auth_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct auth_slot *s = arg;
	char why[400];

	s->fetching = false;
	snprintf(why, sizeof(why), "%s", s->fail_why ? s->fail_why : "out of memory");
	free(s->fail_why);
	s->fail_why = NULL;
	auth_deliver(s, why, AUTH_LOCAL_ERROR);
}

/* When a fresh token for s should be renewed: before it expires by
 * AUTH_RENEW_BEFORE or half its lifetime, not sooner than AUTH_RENEW_AFTER
 * after it was asked for (a short-lived token then simply expires, and the
 * next request waits for its gap). */
static int64_t auth_renew_at(const struct auth_slot *s)
{
	int64_t margin = s->token.lifetime / 2 < AUTH_RENEW_BEFORE ? s->token.lifetime / 2 : AUTH_RENEW_BEFORE;
	int64_t at = s->token.expires_at - margin;

	return at > s->requested_at + AUTH_RENEW_AFTER ? at : s->requested_at + AUTH_RENEW_AFTER;
}

/* Say once per resource that the token endpoint's lifetimes are odd. */
static void auth_lifetime_note(struct auth_slot *s)
{
	const char *name = s->auth->tenant->cfg->name;

	if (s->lifetime_logged)
		return;
	if (s->token.lifetime_fixed != NULL) {
		s->lifetime_logged = true;
		log_warn("tenant %s: the token endpoint's expires_in for %s is %s: taken as %llds (logged once)", name,
		         s->resource, s->token.lifetime_fixed, (long long)s->token.lifetime);
	} else if (s->token.lifetime < AUTH_RENEW_AFTER) {
		s->lifetime_logged = true;
		log_warn("tenant %s: tokens for %s live only %llds; token requests stay paced at one per %ds "
		         "(logged once)", name, s->resource, (long long)s->token.lifetime, AUTH_GAP_MS / 1000);
	}
}

/* The token endpoint answered (or did not). */
static void auth_done_cb(struct http_response *res, void *arg)
{
	struct auth_slot *s = arg;
	struct tenant *t = s->auth->tenant;
	struct sw_token fresh = {0};
	struct sw_error err = {0};
	char why[400];
	int r;

	s->fetching = false;
	why[0] = '\0';
	if (res->curl_code != 0) {
		snprintf(why, sizeof(why), "token request failed: %s", res->error);
	} else {
		/* A renewal replaces the token still cached (and wipes it). */
		r = sw_token_parse(res->body.data, res->body.len, daemon_now(), &fresh, &err);
		if (r == 0) {
			sw_token_clear(&s->token);
			s->token = fresh;
			s->renew_at = auth_renew_at(s);
			s->failures = 0;
			auth_lifetime_note(s);
		} else if (r == -EACCES)
			snprintf(why, sizeof(why), "token endpoint refused (HTTP %ld): %s", res->status, err.text);
		else if (r < 0)
			snprintf(why, sizeof(why), "token endpoint answered HTTP %ld with no token: %s", res->status,
			         err.text[0] ? err.text : "unrecognised body");
	}
	if (why[0] != '\0' && s->auth->cert != NULL)
		log_warn("tenant %s: %s (scope %s/.default; certificate thumbprint %s, %s)", t->cfg->name, why,
		         s->resource, s->auth->cert->thumbprint, sw_jwt_alg_name(s->auth->alg));
	else if (why[0] != '\0')
		log_warn("tenant %s: %s (scope %s/.default)", t->cfg->name, why, s->resource);
	else
		log_debug("tenant %s: token for %s valid until %lld", t->cfg->name, s->resource,
		          (long long)s->token.expires_at);
	if (why[0] != '\0')
		s->failures++;
	auth_deliver(s, why[0] ? why : NULL, res->status);
}

/* Fail the fetch of s from the event loop with why. */
static int auth_fail_later(struct auth_slot *s, const char *why)
{
	static const struct timeval now = {0, 0};

	if (!event_initialized(&s->fail_ev) &&
	    evtimer_assign(&s->fail_ev, s->auth->tenant->daemon->base, auth_fail_cb, s) < 0)
		return -ENOMEM;
	free(s->fail_why);
	s->fail_why = strndup(why, 399);
	if (evtimer_add(&s->fail_ev, &now) < 0)
		return -ENOMEM;
	s->fetching = true;
	return 0;
}

/* The credential part of the token request body: the client secret, or a
 * client assertion signed now.  NULL with why (never a secret) on failure. */
static char *auth_form(struct auth *a, const char *url, const char *scope, char *why, size_t n)
{
	const struct sw_tenant_config *tc = a->tenant->cfg;
	struct sw_error err = {0};
	char *jwt = NULL, *body;

	if (tc->certificate_file == NULL) {
		body = tc->client_secret ? sw_token_form_secret(tc->client_id, tc->client_secret, scope) : NULL;
		if (body == NULL)
			snprintf(why, n, "%s", tc->client_secret ? "out of memory" : "no client secret");
		return body;
	}
	auth_cert_refresh(a);
	if (a->cert == NULL) {
		snprintf(why, n, "%s", a->cert_error ? a->cert_error : "out of memory");
		return NULL;
	}
	if (sw_jwt_assertion(a->cert, a->alg, tc->client_id, url, daemon_now(), &jwt, &err) < 0) {
		snprintf(why, n, "cannot sign the client assertion: %s", err.text);
		return NULL;
	}
	body = sw_token_form_assertion(tc->client_id, jwt, scope);
	sw_free_secret(jwt);
	if (body == NULL)
		snprintf(why, n, "out of memory");
	return body;
}

/* Milliseconds until a token request for s may be sent (see the top). */
static int64_t auth_pace_delay(const struct auth_slot *s)
{
	int64_t gap = AUTH_GAP_MS;

	if (s->requested_ms == 0)
		return 0;
	if (s->failures > 3)
		gap = s->failures - 3 >= 5 ? AUTH_GAP_MAX_MS : (int64_t)AUTH_GAP_MS << (s->failures - 3);
	if (gap > AUTH_GAP_MAX_MS)
		gap = AUTH_GAP_MAX_MS;
	int64_t wait = s->requested_ms + gap - daemon_mono_ms();
	return wait > 0 ? wait : 0;
}

/* Send the token request of s now.  < 0 when it could not be sent; a
 * credential that cannot be used fails from the event loop instead. */
static int auth_send(struct auth_slot *s)
{
	struct auth *a = s->auth;
	const struct sw_tenant_config *tc = a->tenant->cfg;
	char *url = NULL, *scope = NULL, *body = NULL;
	char why[400];
	int r = -ENOMEM;

	url = sw_token_url(tc->login_url, tc->tenant_id);
	scope = sw_token_scope(s->resource);
	if (url == NULL || scope == NULL)
		goto out;
	body = auth_form(a, url, scope, why, sizeof(why));
	if (body == NULL) {
		r = auth_fail_later(s, why);
		goto out;
	}
	static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded",
	                                      "Accept: application/json", NULL};
	struct http_request req = {
		.method = "POST",
		.url = url,
		.headers = headers,
		.body = body,
		.body_len = strlen(body),
		.timeout_ms = 30000,
		.cb = auth_done_cb,
		.arg = s,
	};
	r = http_submit(a->tenant->daemon->http, &req);
	if (r < 0)
		goto out;
	s->fetching = true;
	s->requested_ms = daemon_mono_ms();
	s->requested_at = daemon_now();
	r = 0;
out:
	free(url);
	free(scope);
	sw_free_secret(body);
	return r;
}

/* A held-back token request's turn has come. */
static void auth_pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct auth_slot *s = arg;
	char why[128];
	int r;

	s->fetching = false;
	r = auth_send(s);
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot request a token: %s", strerror(-r));
		auth_deliver(s, why, 0);
	}
}

/* See auth.h. */
int auth_fetch(struct auth *a, const char *resource, auth_cb cb, void *arg)
{
	struct auth_slot *s = auth_slot(a, resource);
	int64_t delay;
	int r;

	if (s == NULL)
		return -ENOMEM;
	if (s->n_waiters == AUTH_MAX_WAITERS)
		return -EBUSY;
	s->waiters[s->n_waiters++] = (struct auth_waiter){cb, arg};
	if (s->fetching)
		return 0;
	delay = auth_pace_delay(s);
	if (delay > 0) {
		struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
		if (!event_initialized(&s->pace_ev) &&
		    evtimer_assign(&s->pace_ev, a->tenant->daemon->base, auth_pace_cb, s) < 0) {
			s->n_waiters--;
			return -ENOMEM;
		}
		if (evtimer_add(&s->pace_ev, &tv) < 0) {
			s->n_waiters--;
			return -ENOMEM;
		}
		log_debug("tenant %s: token request for %s held %llds (paced)", a->tenant->cfg->name, resource,
		          (long long)((delay + 999) / 1000));
		s->fetching = true;
		return 0;
	}
	r = auth_send(s);
	if (r < 0)
		s->n_waiters--;
	return r;
}
