/* auth.c: token cache of one tenant.  One token per resource, since Entra
 * issues a token for exactly one audience; concurrent askers for the same
 * resource share one request. */
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
	char fail_why[400];
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
	char cert_error[360];     /* why cert is NULL; never key material */
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
		sw_cert_free(a->cert);
		a->cert = NULL;
		snprintf(a->cert_error, sizeof(a->cert_error), "certificate_file %s: %s", tc->certificate_file,
		         err.text);
		log_err("tenant %s: %s; no token can be requested until it is fixed", tc->name, a->cert_error);
		return;
	}
	sw_cert_free(a->cert);
	a->cert = c;
	a->cert_error[0] = '\0';
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
		free(a->slots[i].resource);
		sw_token_clear(&a->slots[i].token);
	}
	sw_cert_free(a->cert);
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

	if (s == NULL || s->token.access_token == NULL)
		return NULL;
	if (s->token.expires_at - AUTH_RENEW_BEFORE <= daemon_now())
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
	char why[sizeof(s->fail_why)];

	s->fetching = false;
	memcpy(why, s->fail_why, sizeof(why));
	auth_deliver(s, why, AUTH_LOCAL_ERROR);
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
	auth_deliver(s, why[0] ? why : NULL, res->status);
}

/* Fail the fetch of s from the event loop with why. */
static int auth_fail_later(struct auth_slot *s, const char *why)
{
	static const struct timeval now = {0, 0};

	if (!event_initialized(&s->fail_ev) &&
	    evtimer_assign(&s->fail_ev, s->auth->tenant->daemon->base, auth_fail_cb, s) < 0)
		return -ENOMEM;
	snprintf(s->fail_why, sizeof(s->fail_why), "%s", why);
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
		snprintf(why, n, "%s", a->cert_error);
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

/* See auth.h. */
int auth_fetch(struct auth *a, const char *resource, auth_cb cb, void *arg)
{
	const struct sw_tenant_config *tc = a->tenant->cfg;
	struct auth_slot *s = auth_slot(a, resource);
	char *url = NULL, *scope = NULL, *body = NULL;
	char why[400];
	int r = -ENOMEM;

	if (s == NULL)
		return -ENOMEM;
	if (s->n_waiters == AUTH_MAX_WAITERS)
		return -EBUSY;
	s->waiters[s->n_waiters++] = (struct auth_waiter){cb, arg};
	if (s->fetching)
		return 0;
	url = sw_token_url(tc->login_url, tc->tenant_id);
	scope = sw_token_scope(resource);
	if (url == NULL || scope == NULL)
		goto fail;
	body = auth_form(a, url, scope, why, sizeof(why));
	if (body == NULL) {
		r = auth_fail_later(s, why);
		goto fail;
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
		goto fail;
	s->fetching = true;
	r = 0;
fail:
	if (r < 0)
		s->n_waiters--;
	free(url);
	free(scope);
	sw_free_secret(body);
	return r;
}
