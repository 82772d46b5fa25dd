/* auth.c: token cache of one tenant.  One token per resource, since Entra
 * issues a token for exactly one audience; concurrent askers for the same
 * resource share one request. */
#include "auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
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
};

struct auth {
	struct tenant *tenant;
	struct auth_slot slots[2]; /* Graph and Exchange */
	int n_slots;
};

/* Create an empty cache for tenant t. */
struct auth *auth_new(struct tenant *t)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (a != NULL)
		a->tenant = t;
	return a;
}

/* Free the cache, cancelling token requests in flight. */
void auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	for (int i = 0; i < a->n_slots; i++) {
		http_cancel_arg(a->tenant->daemon->http, &a->slots[i]);
		free(a->slots[i].resource);
		sw_token_clear(&a->slots[i].token);
	}
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

/* The token endpoint answered (or did not). */
static void auth_done_cb(struct http_response *res, void *arg)
{
	struct auth_slot *s = arg;
	struct tenant *t = s->auth->tenant;
	struct sw_error err = {0};
	char why[400];
	int r;

	s->fetching = false;
	why[0] = '\0';
	if (res->curl_code != 0) {
		snprintf(why, sizeof(why), "token request failed: %s", res->error);
	} else {
		r = sw_token_parse(res->body.data, res->body.len, daemon_now(), &s->token, &err);
		if (r == -EACCES)
			snprintf(why, sizeof(why), "token endpoint refused (HTTP %ld): %s", res->status, err.text);
		else if (r < 0)
			snprintf(why, sizeof(why), "token endpoint answered HTTP %ld with no token: %s", res->status,
			         err.text[0] ? err.text : "unrecognised body");
	}
	if (why[0] != '\0')
		log_warn("tenant %s: %s (scope %s/.default)", t->cfg->name, why, s->resource);
	else
		log_debug("tenant %s: token for %s valid until %lld", t->cfg->name, s->resource,
		          (long long)s->token.expires_at);

	/* Callbacks may ask again (and re-add waiters): take the list first. */
	struct auth_waiter w[AUTH_MAX_WAITERS];
	int n = s->n_waiters;
	memcpy(w, s->waiters, sizeof(w));
	s->n_waiters = 0;
	for (int i = 0; i < n; i++)
		w[i].cb(why[0] ? NULL : s->token.access_token, why[0] ? why : NULL, res->status, w[i].arg);
}

/* See auth.h. */
int auth_fetch(struct auth *a, const char *resource, auth_cb cb, void *arg)
{
	const struct sw_tenant_config *tc = a->tenant->cfg;
	struct auth_slot *s = auth_slot(a, resource);
	char *url = NULL, *scope = NULL, *body = NULL;
	int r = -ENOMEM;

	if (s == NULL)
		return -ENOMEM;
	if (s->n_waiters == AUTH_MAX_WAITERS)
		return -EBUSY;
	s->waiters[s->n_waiters++] = (struct auth_waiter){cb, arg};
	if (s->fetching)
		return 0;
	if (tc->client_secret == NULL) {
		/* Certificate credentials arrive with their own issue. */
		s->n_waiters--;
		return -ENOTSUP;
	}
	url = sw_token_url(tc->login_url, tc->tenant_id);
	scope = sw_token_scope(resource);
	if (url == NULL || scope == NULL)
		goto fail;
	body = sw_token_form_secret(tc->client_id, tc->client_secret, scope);
	if (body == NULL)
		goto fail;
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
