/* graph.c: the identity platform token endpoint and the Graph sign-ins API
 * of the simulator. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "sim.h"

#define EXO_APP_ID "00000002-0000-0ff1-ce00-000000000000"

/* ---- tokens ---- */

static size_t token_bucket(const char *tok)
{
	return (size_t)(sim_hash(tok) % TOKEN_BUCKETS);
}

static void base64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = tab[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = tab[v & 63];
	}
	out[o] = '\0';
}

/* Which API a token's resource is for: ".../graph" or graph.microsoft.*
 * is Graph, ".../exchange" or outlook.office* is Exchange, ".../manage" or
 * manage.* / manage-gcc.* is the Management Activity API, anything else
 * (a bare simulator URL) is good for both. */
static int resource_kind(const char *res)
{
	size_t n = strlen(res);
	while (n > 0 && res[n - 1] == '/')
		n--;
	if (strcasestr(res, "graph.microsoft") || (n >= 6 && strncasecmp(res + n - 6, "/graph", 6) == 0))
		return TOKEN_GRAPH;
	if (strcasestr(res, "outlook.office") || (n >= 9 && strncasecmp(res + n - 9, "/exchange", 9) == 0))
		return TOKEN_EXCHANGE;
	/* manage.office.com, manage-gcc.office.com, manage.office365.us, manage.protection.apps.mil */
	if (strcasestr(res, "//manage.") || strcasestr(res, "//manage-") || (n >= 7 && strncasecmp(res + n - 7, "/manage", 7) == 0))
		return TOKEN_MANAGE;
	return TOKEN_ANY;
}

static void tokens_purge(struct sim *sim, int64_t now)
{
	for (size_t b = 0; b < TOKEN_BUCKETS; b++) {
		struct sim_token **pp = &sim->tokens[b];
		while (*pp) {
			struct sim_token *t = *pp;
			if (t->expires + 3600 * TICKS_PER_SEC < now) {
				*pp = t->next;
				free(t->token);
				free(t->resource);
				free(t);
			} else {
				pp = &t->next;
			}
		}
	}
}

void tokens_free(struct sim *sim)
{
	for (size_t b = 0; b < TOKEN_BUCKETS; b++) {
		while (sim->tokens[b]) {
			struct sim_token *t = sim->tokens[b];
			sim->tokens[b] = t->next;
			free(t->token);
			free(t->resource);
			free(t);
		}
	}
}

struct sim_token *token_lookup(struct sim *sim, struct evhttp_request *req)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	const char *tok = h + 7;
	while (*tok == ' ')
		tok++;
	for (struct sim_token *t = sim->tokens[token_bucket(tok)]; t; t = t->next)
		if (strcmp(t->token, tok) == 0)
			return t;
	return NULL;
}

struct sim_token *token_require(struct sim_req *r, int kind)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
	struct sim_token *t = token_lookup(r->sim, r->req);
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
		sim_graph_error(r, 401, "InvalidAuthenticationToken", "Access token is empty.");
		return NULL;
	}
	if (t == NULL) {
		sim_graph_error(r, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid token.");
		return NULL;
	}
	if (sim_now(r->sim) >= t->expires) {
		sim_graph_error(r, 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
		return NULL;
	}
	if (t->kind != TOKEN_ANY && t->kind != kind) {
		sim_graph_error(r, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.");
		return NULL;
	}
	return t;
}

/* An AAD error: {"error","error_description" with trace lines,"error_codes",...}. */
static void aad_error(struct sim_req *r, int status, const char *error, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void aad_error(struct sim_req *r, int status, const char *error, int code, const char *fmt, ...)
{
	char msg[1024], desc[1400], ts[40], corr[37], uri[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sim_random_guid(corr);
	sim_iso_format(sim_now(r->sim), false, ts, sizeof(ts));
	ts[10] = ' ';
	snprintf(desc, sizeof(desc), "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", code, msg,
		r->request_id, corr, ts);
	snprintf(uri, sizeof(uri), "https://login.microsoftonline.com/error?code=%d", code);
	sim_reply_json(r, status,
		json_pack("{s:s,s:s,s:[i],s:s,s:s,s:s,s:s}", "error", error, "error_description", desc, "error_codes", code,
			"timestamp", ts, "trace_id", r->request_id, "correlation_id", corr, "error_uri", uri));
}

/* See sim.h. */
void token_secret_expired(struct sim_req *r, const struct sim_tenant *t)
{
	aad_error(r, 401, "invalid_client", 7000222,
		"The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys "
		"for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added "
		"security: https://aka.ms/certCreds.",
		t ? t->client_id : "00000000-0000-0000-0000-000000000000");
}

/* The URL the client posted to, as the audience of its assertion:
 * "http://" Host, then the path as requested. */
static void token_url(struct sim_req *r, char *buf, size_t n)
{
	const char *host = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Host");
	const char *uri = evhttp_request_get_uri(r->req);
	char fallback[96];
	size_t q = strcspn(uri, "?#");
	if (host == NULL) {
		snprintf(fallback, sizeof(fallback), "%s:%d", r->sim->listen_host, r->sim->port);
		host = fallback;
	}
	snprintf(buf, n, "http://%s%.*s", host, (int)q, uri);
}

void token_handle(struct sim_req *r, const char *tenant_name)
{
	struct sim *sim = r->sim;
	const struct sim_tenant *t = r->tenant;
	struct evkeyvalq form = { 0 };
	TAILQ_INIT(&form);
	if (t == NULL) {
		aad_error(r, 400, "invalid_request", 90002,
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the "
			"correct cloud. Check with your subscription administrator, this may happen if there are no "
			"active subscriptions for the tenant.",
			tenant_name);
		return;
	}
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type");
	char *body = sim_body(r->req, NULL);
	if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
		free(body);
		aad_error(r, 400, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'.");
		return;
	}
	evhttp_parse_query_str(body, &form);
	free(body);
	const char *grant = evhttp_find_header(&form, "grant_type"), *cid = evhttp_find_header(&form, "client_id"),
		   *scope = evhttp_find_header(&form, "scope"), *secret = evhttp_find_header(&form, "client_secret"),
		   *atype = evhttp_find_header(&form, "client_assertion_type"),
		   *assertion = evhttp_find_header(&form, "client_assertion");
	if (grant == NULL) {
		aad_error(r, 400, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'.");
		goto out;
	}
	if (strcmp(grant, "client_credentials") != 0) {
		aad_error(r, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.",
			grant);
		goto out;
	}
	if (cid == NULL) {
		aad_error(r, 400, "invalid_request", 900144,
			"The request body must contain the following parameter: 'client_id'.");
		goto out;
	}
	bool write_app = t->write_client_id != NULL && strcasecmp(cid, t->write_client_id) == 0;
	if (!write_app && strcasecmp(cid, t->client_id) != 0) {
		aad_error(r, 400, "unauthorized_client", 700016,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the "
			"application has not been installed by the administrator of the tenant or consented to by any "
			"user in the tenant. You may have sent your authentication request to the wrong tenant.",
			cid, t->name);
		goto out;
	}
	if (scope == NULL) {
		aad_error(r, 400, "invalid_request", 900144,
			"The request body must contain the following parameter: 'scope'.");
		goto out;
	}
	size_t sl = strlen(scope);
	if (sl <= 9 || strcmp(scope + sl - 9, "/.default") != 0 || strchr(scope, ' ')) {
		aad_error(r, 400, "invalid_scope", 1002012,
			"The provided value for scope %s is not valid. Client credential flows must have a scope value "
			"with /.default suffixed to the resource identifier (application ID URI).",
			scope);
		goto out;
	}
	if (write_app) {
		/* The write app has a client secret only. */
		if (secret == NULL || strcmp(secret, t->write_client_secret) != 0) {
			aad_error(r, 401, "invalid_client", 7000215,
				"Invalid client secret provided. Ensure the secret being sent in the request is the client "
				"secret value, not the client secret ID, for a secret added to app '%s'.", t->write_client_id);
			goto out;
		}
	} else if (atype || assertion) {
		static const char jwt_bearer[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
		struct assertion_failure f;
		char url[600];
		if (atype == NULL || assertion == NULL) {
			aad_error(r, 400, "invalid_request", 900144,
				"The request body must contain the following parameter: '%s'.",
				atype == NULL ? "client_assertion_type" : "client_assertion");
			goto out;
		}
		if (strcmp(atype, jwt_bearer) != 0) {
			aad_error(r, 400, "invalid_request", 50027,
				"Invalid client_assertion_type '%s'; expected '%s'.", atype, jwt_bearer);
			goto out;
		}
		token_url(r, url, sizeof(url));
		if (assertion_check(t, assertion, url, sim_wall_ticks(), sim_now(sim), &f) < 0) {
			aad_error(r, f.status, f.error, f.code, "%s", f.msg);
			goto out;
		}
	} else if (secret == NULL) {
		aad_error(r, 401, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
		goto out;
	} else if (t->client_secret == NULL || strcmp(secret, t->client_secret) != 0) {
		aad_error(r, 401, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
			"value, not the client secret ID, for a secret added to app '%s'.",
			t->client_id);
		goto out;
	} else if (t->client_secret_expired) {
		token_secret_expired(r, t);
		goto out;
	}

	int64_t now = sim_now(sim);
	tokens_purge(sim, now);
	struct sim_token *tok = calloc(1, sizeof(*tok));
	if (tok == NULL)
		abort();
	tok->tenant = t;
	tok->write_app = write_app;
	tok->resource = strndup(scope, sl - 9);
	tok->kind = resource_kind(tok->resource);
	tok->expires = now + (int64_t)sim->token_lifetime * TICKS_PER_SEC;

	/* JWT-shaped but opaque: the claims say what the simulator checks. */
	char tid[37], claims[1024], pay[1400], sig[64];
	unsigned char rnd[32];
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)sim_mix((uint64_t)now + i);
	if (t->tenant_id)
		snprintf(tid, sizeof(tid), "%s", t->tenant_id);
	else
		sim_guid_of("tenant", t->name, tid);
	json_t *cj = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s,s:s}", "aud", tok->resource, "iss", "smtpwatch-sim", "iat",
		(json_int_t)(now / TICKS_PER_SEC), "nbf", (json_int_t)(now / TICKS_PER_SEC), "exp",
		(json_int_t)(tok->expires / TICKS_PER_SEC), "appid", write_app ? t->write_client_id : t->client_id, "tid", tid);
	size_t cl = json_dumpb(cj, claims, sizeof(claims) - 1, JSON_COMPACT);
	json_decref(cj);
	if (cl >= sizeof(claims) - 1)
		cl = 0;
	base64url((const unsigned char *)claims, cl, pay);
	base64url(rnd, sizeof(rnd), sig);
	size_t tl = strlen(pay) + strlen(sig) + 64;
	tok->token = sim_xmalloc(tl);
	snprintf(tok->token, tl, "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.%s.%s", pay, sig);
	size_t b = token_bucket(tok->token);
	tok->next = sim->tokens[b];
	sim->tokens[b] = tok;
	sim->stats.tokens_issued++;

	if (r->fault != NULL && r->fault->expires_in_raw != NULL) {
		/* A broken or hostile identity platform: expires_in as given,
		 * verbatim (a number too large for any integer type, a string,
		 * null), or left out; the token itself still expires on time. */
		struct evbuffer *ans = evbuffer_new();
		evbuffer_add_printf(ans, "{\"token_type\":\"Bearer\",");
		if (r->fault->expires_in_raw[0] != '\0')
			evbuffer_add_printf(ans, "\"expires_in\":%s,", r->fault->expires_in_raw);
		evbuffer_add_printf(ans, "\"access_token\":");
		sim_json_str(ans, tok->token);
		evbuffer_add(ans, "}", 1);
		sim_reply(r, 200, ans);
		goto out;
	}
	sim_reply_json(r, 200,
		json_pack("{s:s,s:I,s:I,s:s}", "token_type", "Bearer", "expires_in", (json_int_t)sim->token_lifetime,
			"ext_expires_in", (json_int_t)sim->token_lifetime, "access_token", tok->token));
out:
	evhttp_clear_headers(&form);
}

/* ---- sign-ins ---- */

struct filter {
	int64_t ge, le; /* inclusive bounds in ticks */
	char *app, *upn, *ip;
	bool app_set;
};

static void filter_clear(struct filter *f)
{
	free(f->app);
	free(f->upn);
	free(f->ip);
}

/* Next token of an OData filter: a word, or a quoted string ('' escapes). */
static const char *filter_token(const char *p, char *out, size_t n, bool *quoted)
{
	while (isspace((unsigned char)*p))
		p++;
	size_t o = 0;
	*quoted = false;
	if (*p == '\'') {
		*quoted = true;
		p++;
		for (;;) {
			if (*p == '\0')
				return NULL; /* unterminated */
			if (*p == '\'') {
				if (p[1] == '\'') {
					p++;
				} else {
					p++;
					break;
				}
			}
			if (o + 1 < n)
				out[o++] = *p;
			p++;
		}
	} else {
		while (*p && !isspace((unsigned char)*p)) {
			if (o + 1 < n)
				out[o++] = *p;
			p++;
		}
	}
	out[o] = '\0';
	return p;
}

/* Parse the filter subset the daemon uses; *msg names the bad part. */
static int filter_parse(const char *s, struct filter *f, char *msg, size_t n)
{
	f->ge = INT64_MIN;
	f->le = INT64_MAX;
	const char *p = s;
	char field[256], op[64], val[512];
	bool q;
	int clauses = 0;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0') {
			if (clauses == 0)
				break;
			snprintf(msg, n, "Invalid filter clause: expected an expression after 'and'.");
			return -1;
		}
		const char *start = p;
		if ((p = filter_token(p, field, sizeof(field), &q)) == NULL || q) {
			snprintf(msg, n, "Invalid filter clause: expected a property name at '%s'.", start);
			return -1;
		}
		const char *opstart = p;
		if ((p = filter_token(p, op, sizeof(op), &q)) == NULL || q || op[0] == '\0') {
			snprintf(msg, n, "Invalid filter clause: expected an operator after '%s'.", field);
			return -1;
		}
		const char *valstart = p;
		if ((p = filter_token(p, val, sizeof(val), &q)) == NULL) {
			snprintf(msg, n, "Invalid filter clause: unterminated string literal at '%s'.", valstart);
			return -1;
		}
		if (val[0] == '\0' && !q) {
			snprintf(msg, n, "Invalid filter clause: expected a value after '%s %s'.", field, op);
			return -1;
		}
		if (strcasecmp(field, "createdDateTime") == 0) {
			int64_t t;
			if (q || sim_iso_parse(val, &t) < 0) {
				snprintf(msg, n, "Invalid filter clause: '%s' is not a valid DateTimeOffset for createdDateTime.",
					val);
				return -1;
			}
			if (strcasecmp(op, "ge") == 0)
				f->ge = t > f->ge ? t : f->ge;
			else if (strcasecmp(op, "gt") == 0)
				f->ge = t + 1 > f->ge ? t + 1 : f->ge;
			else if (strcasecmp(op, "le") == 0)
				f->le = t < f->le ? t : f->le;
			else if (strcasecmp(op, "lt") == 0)
				f->le = t - 1 < f->le ? t - 1 : f->le;
			else {
				snprintf(msg, n, "Invalid filter clause: operator '%s' is not supported for createdDateTime.", op);
				return -1;
			}
		} else if (strcasecmp(field, "clientAppUsed") == 0 || strcasecmp(field, "userPrincipalName") == 0 ||
			   strcasecmp(field, "ipAddress") == 0) {
			if (strcasecmp(op, "eq") != 0) {
				snprintf(msg, n, "Invalid filter clause: operator '%s' is not supported for %s.", op, field);
				return -1;
			}
			if (!q) {
				snprintf(msg, n, "Invalid filter clause: the value of %s must be a quoted string, got %.200s.", field, val);
				return -1;
			}
			char **dst = strcasecmp(field, "clientAppUsed") == 0 ? &f->app
				     : strcasecmp(field, "userPrincipalName") == 0 ? &f->upn : &f->ip;
			free(*dst);
			*dst = sim_xstrdup(val);
		} else {
			(void)opstart;
			snprintf(msg, n, "Invalid filter clause: property '%s' is not supported by this filter.", field);
			return -1;
		}
		clauses++;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		char conj[32];
		const char *cstart = p;
		p = filter_token(p, conj, sizeof(conj), &q);
		if (p == NULL || q || strcasecmp(conj, "and") != 0) {
			snprintf(msg, n, "Invalid filter clause: expected 'and' at '%s'.", cstart);
			return -1;
		}
	}
	return 0;
}

struct cursor {
	int64_t as_of, created;
	uint64_t hi, lo;
	unsigned dup;
};

static int cursor_parse(const char *s, struct cursor *c)
{
	unsigned long long a, b, hi, lo;
	unsigned dup;
	int n = 0;
	if (sscanf(s, "s1_%llx_%llx_%llx_%llx_%u%n", &a, &b, &hi, &lo, &dup, &n) != 5 || s[n] != '\0')
		return -EINVAL;
	c->as_of = (int64_t)a;
	c->created = (int64_t)b;
	c->hi = hi;
	c->lo = lo;
	c->dup = dup;
	return 0;
}

/* Is record r after the cursor position in newest-first order? */
static bool after_cursor(const struct sim_signin *r, const struct cursor *c)
{
	if (r->created != c->created)
		return r->created < c->created;
	if (r->id_hi != c->hi)
		return r->id_hi < c->hi;
	if (r->id_lo != c->lo)
		return r->id_lo < c->lo;
	return r->dup > c->dup;
}

/* Rough coordinates per country (the simulator has no city database). */
static const struct {
	const char *cc;
	double lat, lon;
} geo[] = {
	{ "US", 39.0438, -77.4874 }, { "NL", 52.3676, 4.9041 }, { "RU", 55.7558, 37.6173 }, { "DE", 50.1109, 8.6821 },
	{ "GB", 51.5072, -0.1276 }, { "FR", 48.8566, 2.3522 }, { "CN", 39.9042, 116.4074 }, { "BR", -23.5505, -46.6333 },
	{ "IN", 19.0760, 72.8777 }, { "VN", 21.0278, 105.8342 }, { "IR", 35.6892, 51.3890 }, { "KP", 39.0392, 125.7625 },
	{ "UA", 50.4501, 30.5234 }, { "JP", 35.6762, 139.6503 }, { "AU", -33.8688, 151.2093 }, { "CA", 43.6532, -79.3832 },
	{ "SG", 1.3521, 103.8198 }, { "CH", 47.3769, 8.5417 }, { "LT", 54.6872, 25.2797 }, { "RO", 44.4268, 26.1025 },
	{ "NG", 6.5244, 3.3792 }, { "TR", 41.0082, 28.9784 }, { "PL", 52.2297, 21.0122 }, { "SE", 59.3293, 18.0686 },
};

static const char *pick(char **v, size_t n, uint32_t i)
{
	return n ? v[i % n] : NULL;
}

static void guid_of_pair(uint64_t a, uint64_t b, char *buf)
{
	uint64_t hi = sim_mix(a ^ sim_mix(b) ^ 0xa0761d6478bd642fULL);
	sim_guid(hi, sim_mix(b ^ hi), buf);
}

/* One sign-in record as Microsoft renders it (about 1.8 KB). */
static void render_signin(struct evbuffer *b, const struct sim_tenant *t, const struct sim_signin *r)
{
	const struct sim_series *s = t->series[r->series];
	const char *upn = pick(s->users, s->n_users, r->index);
	const char *ip = pick(s->ips, s->n_ips, r->index);
	const char *cc = pick(s->countries, s->n_countries, r->index);
	const char *city = pick(s->cities, s->n_cities, r->index);
	const char *state = pick(s->states, s->n_states, r->index);
	char id[37], uid[37], corr[37], tid[37], when[40], step[40], lower[320], dn[128];

	sim_guid(r->id_hi, r->id_lo, id);
	if (s->id_prefix[0])
		memcpy(id, s->id_prefix, strlen(s->id_prefix));
	snprintf(lower, sizeof(lower), "%s", upn);
	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	sim_guid_of("user", lower, uid);
	guid_of_pair(r->id_hi, r->id_lo ^ 1, corr);
	if (t->tenant_id)
		snprintf(tid, sizeof(tid), "%s", t->tenant_id);
	else
		sim_guid_of("tenant", t->name, tid);
	sim_iso_format(r->created, true, when, sizeof(when));
	sim_iso_format(r->created - 2 * TICKS_PER_SEC, false, step, sizeof(step));
	const char *at = strchr(upn, '@');
	snprintf(dn, sizeof(dn), "%.*s", at ? (int)(at - upn) : (int)strlen(upn), upn);
	const char *reason = s->failure_reason_null ? NULL
			     : s->failure_reason      ? s->failure_reason
						      : sim_failure_reason(s->error_code);
	bool ok = s->error_code == 0;

	/* 7 digits as Graph documents; 9 as captured answers carry (the
	 * ticks are 100 ns, so the last two are 0); 0 drops the fraction. */
	char *dot = strchr(when, '.');
	if (s->fraction_digits != 7 && dot != NULL) {
		char digits[8];
		snprintf(digits, sizeof(digits), "%.7s", dot + 1);
		snprintf(dot, sizeof(when) - (size_t)(dot - when), "%s%.*s%s%sZ", s->fraction_digits ? "." : "",
			(int)(s->fraction_digits < 7 ? s->fraction_digits : 7), digits,
			s->fraction_digits > 7 ? "0" : "", s->fraction_digits > 8 ? "0" : "");
	}
	if (s->omit_id)
		evbuffer_add_printf(b, "{\"createdDateTime\":\"%s\",\"userDisplayName\":", when);
	else
		evbuffer_add_printf(b, "{\"id\":\"%s\",\"createdDateTime\":\"%s\",\"userDisplayName\":", id, when);
	sim_json_str(b, dn);
	evbuffer_add(b, ",\"userPrincipalName\":", 21);
	sim_json_str(b, upn);
	evbuffer_add_printf(b,
		",\"userId\":\"%s\",\"appId\":\"" EXO_APP_ID "\",\"appDisplayName\":\"Office 365 Exchange Online\","
		"\"ipAddress\":",
		uid);
	sim_json_str(b, ip);
	evbuffer_add(b, ",\"clientAppUsed\":", 17);
	sim_json_str(b, s->client_app);
	uint64_t h = sim_mix(r->id_lo);
	evbuffer_add_printf(b,
		",\"correlationId\":\"%s\",\"conditionalAccessStatus\":\"notApplied\",\"isInteractive\":false,"
		"\"tokenIssuerType\":\"AzureAD\","
		"\"processingTimeInMilliseconds\":%u,\"riskDetail\":\"none\",\"riskLevelAggregated\":\"none\","
		"\"riskLevelDuringSignIn\":\"none\",\"riskState\":\"none\",\"riskEventTypes\":[],\"riskEventTypes_v2\":[],"
		"\"resourceDisplayName\":\"Office 365 Exchange Online\",\"resourceId\":\"" EXO_APP_ID "\","
		"\"resourceTenantId\":\"%s\",\"homeTenantId\":\"%s\",\"userType\":\"member\","
		"\"authenticationRequirement\":\"singleFactorAuthentication\",\"authenticationProtocol\":\"ropc\","
		"\"uniqueTokenIdentifier\":\"%016llx%08x\","
		"\"status\":{\"errorCode\":%d,\"failureReason\":",
		corr, (unsigned)(h % 900 + 40), tid, tid, (unsigned long long)h, (unsigned)(h >> 40),
		s->error_code);
	sim_json_str(b, reason);
	evbuffer_add_printf(b,
		",\"additionalDetails\":null},\"deviceDetail\":{\"deviceId\":\"\",\"displayName\":\"\","
		"\"operatingSystem\":\"\",\"browser\":\"\",\"isCompliant\":false,\"isManaged\":false,\"trustType\":\"\"},"
		"\"location\":{\"city\":");
	sim_json_str(b, city);
	double lat = 0, lon = 0;
	bool known = false;
	for (size_t i = 0; cc && i < sizeof(geo) / sizeof(geo[0]); i++) {
		if (strcasecmp(geo[i].cc, cc) == 0) {
			lat = geo[i].lat + (double)(sim_hash(ip ? ip : "") % 100) / 1000.0;
			lon = geo[i].lon + (double)(sim_hash(ip ? ip : "") % 77) / 1000.0;
			known = true;
		}
	}
	evbuffer_add(b, ",\"state\":", 9);
	sim_json_str(b, state);
	evbuffer_add(b, ",\"countryOrRegion\":", 19);
	sim_json_str(b, cc);
	if (known)
		evbuffer_add_printf(b, ",\"geoCoordinates\":{\"altitude\":null,\"latitude\":%.6f,\"longitude\":%.6f}}", lat,
			lon);
	else
		evbuffer_add_printf(b, ",\"geoCoordinates\":{\"altitude\":null,\"latitude\":null,\"longitude\":null}}");
	evbuffer_add_printf(b,
		",\"appliedConditionalAccessPolicies\":[],\"authenticationDetails\":[{\"authenticationStepDateTime\":\"%s\","
		"\"authenticationMethod\":\"Password\",\"authenticationMethodDetail\":\"Password in the cloud\","
		"\"succeeded\":%s,\"authenticationStepResultDetail\":\"%s\","
		"\"authenticationStepRequirement\":\"Primary authentication\"}],"
		"\"authenticationProcessingDetails\":[{\"key\":\"Legacy TLS (TLS 1.0, 1.1, 3DES)\",\"value\":\"False\"},"
		"{\"key\":\"Oauth Scope Info\",\"value\":\"\"}],"
		"\"networkLocationDetails\":[],\"sessionLifetimePolicies\":[]}",
		step, ok ? "true" : "false",
		ok ? "Correct password" : "Invalid username or password or Invalid on-premise username or password.");
}

static const char *query_get(struct evkeyvalq *q, const char *name)
{
	/* OData accepts "$top" and "top", any case */
	for (struct evkeyval *kv = q->tqh_first; kv; kv = kv->next.tqe_next) {
		const char *k = kv->key[0] == '$' ? kv->key + 1 : kv->key;
		if (strcasecmp(k, name) == 0)
			return kv->value;
	}
	return NULL;
}

void signins_handle(struct sim_req *r)
{
	struct sim *sim = r->sim;
	struct sim_token *tok = token_require(r, TOKEN_GRAPH);
	if (tok == NULL)
		return;
	const struct sim_tenant *t = tok->tenant;
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	struct filter f = { .ge = INT64_MIN, .le = INT64_MAX };
	char msg[700];
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
	const char *query = evhttp_uri_get_query(u);
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		sim_graph_error(r, 400, "BadRequest", "Malformed query string.");
		goto out;
	}
	const char *filter = query_get(&q, "filter"), *top_s = query_get(&q, "top"),
		   *skip = query_get(&q, "skiptoken");
	long top = sim->page_size;
	if (top_s) {
		char *end;
		errno = 0;
		top = strtol(top_s, &end, 10);
		if (errno || *end || end == top_s || top < 1 || top > 1000) {
			sim_graph_error(r, 400, "BadRequest",
				"Invalid page size specified: '%s'. Must be between 1 and 1000 inclusive.", top_s);
			goto out;
		}
	}
	long page = top < sim->page_size ? top : sim->page_size;
	if (filter && filter_parse(filter, &f, msg, sizeof(msg)) < 0) {
		sim_graph_error(r, 400, "BadRequest", "%s", msg);
		goto out;
	}
	int64_t now = sim_now(sim);
	struct cursor c = { .as_of = now };
	size_t i = 0, n = t->n_signins;
	if (skip) {
		if (cursor_parse(skip, &c) < 0) {
			sim_graph_error(r, 400, "BadRequest", "Invalid skip token '%s'.", skip);
			goto out;
		}
		if (sim->skiptoken_lifetime > 0 && now - c.as_of > sim->skiptoken_lifetime) {
			sim_graph_error(r, 400, "BadRequest", "The skip token has expired. Restart the query.");
			goto out;
		}
		/* first record strictly after the cursor */
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (after_cursor(&t->signins[mid], &c))
				hi = mid;
			else
				lo = mid + 1;
		}
		i = lo;
	} else if (f.le != INT64_MAX) {
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (t->signins[mid].created <= f.le)
				hi = mid;
			else
				lo = mid + 1;
		}
		i = lo;
	}

	/* Serve a snapshot as of the first page: records that turn visible
	 * while a client pages stay out of this walk (a later poll that
	 * re-reads its lookback window gets them), so pages never shift. */
	struct evbuffer *recs = evbuffer_new();
	long served = 0;
	bool more = false;
	const struct sim_signin *last = NULL;
	for (; i < n; i++) {
		const struct sim_signin *rec = &t->signins[i];
		if (rec->created < f.ge)
			break;
		if (rec->created > f.le || rec->visible > c.as_of)
			continue;
		const struct sim_series *s = t->series[rec->series];
		if (f.app && strcasecmp(f.app, s->client_app) != 0)
			continue;
		if (f.upn && strcasecmp(f.upn, pick(s->users, s->n_users, rec->index)) != 0)
			continue;
		if (f.ip && (s->n_ips == 0 || strcmp(f.ip, pick(s->ips, s->n_ips, rec->index)) != 0))
			continue;
		if (served == page) {
			more = true;
			break;
		}
		if (served)
			evbuffer_add(recs, ",", 1);
		render_signin(recs, t, rec);
		last = rec;
		served++;
	}
	sim->stats.signin_records_served += (unsigned long)served;

	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns\"");
	struct evbuffer *hostile = evbuffer_new();
	if (fault_next_link(r, hostile)) {
		evbuffer_add(b, ",\"@odata.nextLink\":", 19);
		sim_json_str(b, (const char *)evbuffer_pullup(hostile, -1));
	} else if (more && last) {
		char tokbuf[128];
		snprintf(tokbuf, sizeof(tokbuf), "s1_%llx_%llx_%llx_%llx_%u", (unsigned long long)c.as_of,
			(unsigned long long)last->created, (unsigned long long)last->id_hi,
			(unsigned long long)last->id_lo, (unsigned)last->dup);
		struct evbuffer *link = evbuffer_new();
		evbuffer_add_printf(link, "%s?", r->base_url);
		if (filter) {
			char *enc = evhttp_uriencode(filter, -1, 0);
			evbuffer_add_printf(link, "$filter=%s&", enc);
			free(enc);
		}
		if (top_s)
			evbuffer_add_printf(link, "$top=%ld&", top);
		evbuffer_add_printf(link, "$skiptoken=%s", tokbuf);
		evbuffer_add(link, "", 1);
		evbuffer_add(b, ",\"@odata.nextLink\":", 19);
		sim_json_str(b, (const char *)evbuffer_pullup(link, -1));
		evbuffer_free(link);
	}
	evbuffer_free(hostile);
	evbuffer_add(b, ",\"value\":[", 10);
	evbuffer_add_buffer(b, recs);
	evbuffer_add(b, "]}", 2);
	evbuffer_free(recs);
	sim_reply(r, 200, b);
out:
	filter_clear(&f);
	evhttp_clear_headers(&q);
}
