/* usage.c: the email app usage report, report settings, message trace and
 * the tenant without Entra ID P1, as Graph serves them.
 *
 * GET {graph}/v1.0/reports/getEmailAppUsageUserDetail(period='D7') (or
 * (date=YYYY-MM-DD), the last 30 days) answers 302 Found with a Location
 * on a second loopback port: a download URL that serves the CSV to anyone
 * who has it (no bearer token), for 5 minutes.  The CSV form is throttled
 * at 14 requests per 10 minutes per app per tenant.  GET
 * {graph}/v1.0/admin/reportSettings says displayConcealedNames; when true,
 * the report carries MD5-like hashes instead of user principal names.
 *
 * GET {graph}/v1.0/admin/exchange/tracing/messageTraces: $filter on
 * receivedDateTime (ge and le, both needed, at most 10 days, not older
 * than 90 days) and senderAddress eq; $top 1..5000 (default 1000);
 * $skiptoken paging.  While the service principal of Microsoft's app
 * 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 is provisioning it answers 401.
 *
 * Scenario keys of a tenant: "no_p1": true (signIns answers 403 with
 * Microsoft's licence error), "usage": {"concealed": bool, "refresh":
 * time, "users": [{"upn", "smtp", "last_activity"}], "csv": text (served
 * as is), "location": URL (a hostile redirect)}, "trace": {"provisioning":
 * bool, "messages": [{"sender", "recipient", "ip", "at", "count",
 * "every"}]}; "withhold_permissions" with Reports.Read.All,
 * ReportSettings.Read.All or ExchangeMessageTrace.Read.All answers 403. */
#include <errno.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "sim.h"

#define USAGE_THROTTLE_REQUESTS 14
#define USAGE_THROTTLE_WINDOW (600 * TICKS_PER_SEC)
#define USAGE_BLOB_LIFETIME (300 * TICKS_PER_SEC)
#define TRACE_MAX_SPAN (10 * 86400 * TICKS_PER_SEC)
#define TRACE_MAX_AGE (90 * 86400 * TICKS_PER_SEC)
#define TRACE_APP_ID "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"

struct usage_user {
	char *upn, *smtp;
	int64_t last_activity; /* ticks, 0 none */
};

struct trace_series {
	char *sender, *recipient, *ip;
	int64_t at, every;
	long count;
};

struct sim_usage {
	bool no_p1;
	bool concealed;
	int64_t refresh; /* ticks */
	struct usage_user *users;
	size_t n_users;
	char *csv, *location;
	int64_t ring[USAGE_THROTTLE_REQUESTS];
	size_t ring_pos;
	bool trace_provisioning;
	struct trace_series *trace;
	size_t n_trace;
};

/* A report served once on the download port. */
struct usage_blob {
	char id[37];
	int64_t expires;
	char *body;
	struct usage_blob *next;
};

static int errf(char *err, size_t errn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t errn, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errn, fmt, ap);
	va_end(ap);
	return -1;
}

/* See sim.h. */
int usage_scenario_parse(struct sim_tenant *t, json_t *o, int64_t base, const char *where, char *err, size_t errn)
{
	static const char *const ukeys[] = {"concealed", "refresh", "users", "csv", "location", NULL};
	static const char *const tkeys[] = {"provisioning", "messages", NULL};
	json_t *nop1 = json_object_get(o, "no_p1"), *u = json_object_get(o, "usage"), *tr = json_object_get(o, "trace");
	struct sim_usage *su = calloc(1, sizeof(*su));
	size_t i;
	json_t *v;

	if (su == NULL)
		abort();
	t->usage = su;
	su->refresh = base - 86400LL * TICKS_PER_SEC;
	if (nop1 != NULL && !json_is_boolean(nop1))
		return errf(err, errn, "%s.no_p1: expected true or false", where);
	su->no_p1 = json_is_true(nop1);
	if (u != NULL) {
		if (!json_is_object(u) || sim_check_keys(u, ukeys, where, err, errn) < 0)
			return u && json_is_object(u) ? -1 : errf(err, errn, "%s.usage: expected an object", where);
		su->concealed = json_is_true(json_object_get(u, "concealed"));
		const char *rf = json_string_value(json_object_get(u, "refresh"));
		if (rf != NULL && sim_time_parse(rf, base, &su->refresh) < 0)
			return errf(err, errn, "%s.usage.refresh: not a time", where);
		if ((v = json_object_get(u, "csv")) != NULL)
			su->csv = sim_xstrdup(json_string_value(v) ? json_string_value(v) : "");
		if ((v = json_object_get(u, "location")) != NULL && json_is_string(v))
			su->location = sim_xstrdup(json_string_value(v));
		json_t *users = json_object_get(u, "users");
		su->users = calloc(json_array_size(users) + 1, sizeof(*su->users));
		json_array_foreach(users, i, v) {
			const char *upn = json_string_value(json_object_get(v, "upn"));
			json_t *smtp = json_object_get(v, "smtp");
			const char *la = json_string_value(json_object_get(v, "last_activity"));
			struct usage_user *uu = &su->users[su->n_users];
			if (upn == NULL)
				return errf(err, errn, "%s.usage.users[%zu].upn: expected a string", where, i);
			uu->upn = sim_xstrdup(upn);
			uu->smtp = sim_xstrdup(json_is_string(smtp) ? json_string_value(smtp) : json_is_true(smtp) ? "Yes" : "No");
			if (la != NULL && sim_time_parse(la, base, &uu->last_activity) < 0)
				return errf(err, errn, "%s.usage.users[%zu].last_activity: not a time", where, i);
			su->n_users++;
		}
	}
	if (tr != NULL) {
		if (!json_is_object(tr) || sim_check_keys(tr, tkeys, where, err, errn) < 0)
			return tr && json_is_object(tr) ? -1 : errf(err, errn, "%s.trace: expected an object", where);
		su->trace_provisioning = json_is_true(json_object_get(tr, "provisioning"));
		json_t *msgs = json_object_get(tr, "messages");
		su->trace = calloc(json_array_size(msgs) + 1, sizeof(*su->trace));
		json_array_foreach(msgs, i, v) {
			struct trace_series *s = &su->trace[su->n_trace];
			const char *at = json_string_value(json_object_get(v, "at"));
			const char *every = json_string_value(json_object_get(v, "every"));
			const char *sender = json_string_value(json_object_get(v, "sender"));
			if (sender == NULL || at == NULL || sim_time_parse(at, base, &s->at) < 0)
				return errf(err, errn, "%s.trace.messages[%zu]: needs sender and at", where, i);
			s->sender = sim_strdup_lower(sender);
			const char *rc = json_string_value(json_object_get(v, "recipient"));
			const char *ip = json_string_value(json_object_get(v, "ip"));
			s->recipient = sim_xstrdup(rc ? rc : "someone@example.com");
			s->ip = sim_xstrdup(ip ? ip : "203.0.113.10");
			s->count = json_integer_value(json_object_get(v, "count"));
			if (s->count < 1)
				s->count = 1;
			s->every = TICKS_PER_SEC * 60;
			if (every != NULL && sim_duration_parse(every, &s->every) < 0)
				return errf(err, errn, "%s.trace.messages[%zu].every: not a duration", where, i);
			su->n_trace++;
		}
	}
	return 0;
}

/* See sim.h. */
void usage_free(struct sim_tenant *t)
{
	struct sim_usage *su = t->usage;

	if (su == NULL)
		return;
	for (size_t i = 0; i < su->n_users; i++) {
		free(su->users[i].upn);
		free(su->users[i].smtp);
	}
	for (size_t i = 0; i < su->n_trace; i++) {
		free(su->trace[i].sender);
		free(su->trace[i].recipient);
		free(su->trace[i].ip);
	}
	free(su->trace);
	free(su->users);
	free(su->csv);
	free(su->location);
	free(su);
	t->usage = NULL;
}

/* See sim.h. */
bool usage_no_p1(struct sim_req *r)
{
	if (r->tenant == NULL || r->tenant->usage == NULL || !r->tenant->usage->no_p1)
		return false;
	sim_graph_error(r, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
	                "Neither tenant is B2C or tenant doesn't have premium license");
	return true;
}

static bool perm_withheld(const struct sim_tenant *t, const char *perm)
{
	size_t i;
	json_t *v;

	json_array_foreach(t->withheld, i, v) {
		if (json_is_string(v) && strcasecmp(json_string_value(v), perm) == 0)
			return true;
	}
	return false;
}

/* The tenant of a GET with a valid Graph token, or NULL after answering. */
static struct sim_tenant *usage_tenant(struct sim_req *r, const char *perm)
{
	if (evhttp_request_get_command(r->req) != EVHTTP_REQ_GET) {
		sim_graph_error(r, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.");
		return NULL;
	}
	struct sim_token *tok = token_require(r, TOKEN_GRAPH);
	if (tok == NULL)
		return NULL;
	if (perm_withheld(tok->tenant, perm)) {
		sim_graph_error(r, 403, "UnknownError",
		                "{\"error\":{\"code\":\"S2SUnauthorized\",\"message\":\"Invalid permission.\"}}");
		return NULL;
	}
	return (struct sim_tenant *)tok->tenant;
}

/* MD5 of a name in upper-case hex: what a concealed report shows. */
static void conceal(const char *upn, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(upn, strlen(upn), md, &n, EVP_md5(), NULL);
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
}

/* Append a CSV cell, quoted when needed. */
static void csv_cell(struct evbuffer *b, const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n") != NULL) {
		evbuffer_add(b, "\"", 1);
		for (const char *c = s; *c; c++) {
			if (*c == '"')
				evbuffer_add(b, "\"", 1);
			evbuffer_add(b, c, 1);
		}
		evbuffer_add(b, "\"", 1);
	} else {
		evbuffer_add(b, s, strlen(s));
	}
	evbuffer_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

/* The report as Graph writes it (BOM, CRLF, Microsoft's header). */
static char *usage_csv(const struct sim_usage *su, int64_t refresh, const char *period)
{
	struct evbuffer *b = evbuffer_new();
	char day[40], la[40], hash[33];

	if (su->csv != NULL) {
		evbuffer_free(b);
		return sim_xstrdup(su->csv);
	}
	evbuffer_add_printf(b, "\xef\xbb\xbfReport Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,"
	                    "Last Activity Date,Mail For Mac,Outlook For Mac,Outlook For Windows,Outlook For Mobile,"
	                    "Other For Mobile,Outlook For Web,POP3 App,IMAP4 App,SMTP App,Report Period\r\n");
	sim_iso_format(refresh, false, day, sizeof(day));
	day[10] = '\0';
	for (size_t i = 0; i < su->n_users; i++) {
		const struct usage_user *u = &su->users[i];
		la[0] = '\0';
		if (u->last_activity > 0) {
			sim_iso_format(u->last_activity, false, la, sizeof(la));
			la[10] = '\0';
		}
		csv_cell(b, day, false);
		if (su->concealed) {
			conceal(u->upn, hash);
			csv_cell(b, hash, false);
			csv_cell(b, hash + 20, false);
		} else {
			csv_cell(b, u->upn, false);
			csv_cell(b, u->upn, false);
		}
		csv_cell(b, "False", false);
		csv_cell(b, "", false);
		csv_cell(b, la, false);
		for (int k = 0; k < 8; k++)
			csv_cell(b, "No", false);
		csv_cell(b, u->smtp, false);
		csv_cell(b, period, true);
	}
	size_t n = evbuffer_get_length(b);
	char *s = sim_xmalloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

/* 14 CSV requests per 10 minutes per tenant, or a 429. */
static bool usage_throttled(struct sim_req *r, struct sim_usage *su)
{
	int64_t now = sim_wall_ticks(), oldest = su->ring[su->ring_pos];

	if (oldest != 0 && now - oldest < USAGE_THROTTLE_WINDOW) {
		char ra[24];
		snprintf(ra, sizeof(ra), "%lld",
		         (long long)((USAGE_THROTTLE_WINDOW - (now - oldest) + TICKS_PER_SEC - 1) / TICKS_PER_SEC));
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", ra);
		r->sim->stats.throttled++;
		sim_graph_error(r, 429, "TooManyRequests", "Too many requests. Retry after %s seconds.", ra);
		return true;
	}
	su->ring[su->ring_pos] = now;
	su->ring_pos = (su->ring_pos + 1) % USAGE_THROTTLE_REQUESTS;
	return false;
}

/* See sim.h.  fn: "period='D7'" or "date=2026-12-01". */
void usage_report_handle(struct sim_req *r, const char *fn)
{
	struct sim *sim = r->sim;
	struct sim_tenant *t = usage_tenant(r, "Reports.Read.All");
	struct sim_usage *su = t ? t->usage : NULL;
	char period[8] = "7", loc[400];
	int64_t refresh;

	sim->stats.reports++;
	if (t == NULL)
		return;
	if (strncmp(fn, "period='", 8) == 0) {
		const char *p = fn + 8;
		if (strcmp(p, "D7'") != 0 && strcmp(p, "D30'") != 0 && strcmp(p, "D90'") != 0 && strcmp(p, "D180'") != 0) {
			sim_graph_error(r, 400, "BadRequest", "Invalid value for the period parameter: %s", fn);
			return;
		}
		snprintf(period, sizeof(period), "%.*s", (int)(strlen(p) - 2), p + 1);
		refresh = su->refresh;
	} else if (strncmp(fn, "date=", 5) == 0) {
		char iso[40];
		snprintf(iso, sizeof(iso), "%.10sT00:00:00Z", fn + 5);
		if (strlen(fn + 5) != 10 || sim_iso_parse(iso, &refresh) < 0 ||
		    refresh > sim_now(sim) || sim_now(sim) - refresh > 30LL * 86400 * TICKS_PER_SEC) {
			sim_graph_error(r, 400, "BadRequest", "Invalid value for the date parameter: the date must be within "
			                "the last 30 days (%s)", fn + 5);
			return;
		}
		snprintf(period, sizeof(period), "1");
	} else {
		sim_graph_error(r, 400, "BadRequest", "Resource not found for the segment 'getEmailAppUsageUserDetail'.");
		return;
	}
	if (usage_throttled(r, su))
		return;
	if (su->location != NULL) {
		snprintf(loc, sizeof(loc), "%s", su->location);
	} else {
		struct usage_blob *b = calloc(1, sizeof(*b));
		if (b == NULL)
			abort();
		sim_random_guid(b->id);
		b->expires = sim_wall_ticks() + USAGE_BLOB_LIFETIME;
		b->body = usage_csv(su, refresh, period);
		b->next = sim->blobs;
		sim->blobs = b;
		snprintf(loc, sizeof(loc), "http://%s:%d/reports/%s/EmailAppUsageUserDetail.csv", sim->listen_host,
		         sim->dl_port, b->id);
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", loc);
	struct evbuffer *body = evbuffer_new();
	sim_reply(r, 302, body);
}

/* See sim.h. */
void usage_settings_handle(struct sim_req *r)
{
	struct sim_tenant *t = usage_tenant(r, "ReportSettings.Read.All");

	if (t == NULL)
		return;
	sim_reply_json(r, 200, json_pack("{s:s,s:b}", "@odata.context",
	                                 "https://graph.microsoft.com/v1.0/$metadata#admin/reportSettings/$entity",
	                                 "displayConcealedNames", t->usage->concealed));
}

/* The download port: the report behind a Location, without a token. */
static void download_cb(struct evhttp_request *req, void *arg)
{
	struct sim *sim = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	int64_t now = sim_wall_ticks();

	sim->stats.report_downloads++;
	if (evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization") != NULL)
		sim->stats.report_downloads_authz++;
	for (struct usage_blob *x = sim->blobs; x != NULL; x = x->next) {
		if (strstr(uri, x->id) == NULL)
			continue;
		if (x->expires < now)
			break;
		evhttp_add_header(out, "Content-Type", "application/octet-stream");
		evbuffer_add(b, x->body, strlen(x->body));
		evhttp_send_reply(req, 200, "OK", b);
		evbuffer_free(b);
		return;
	}
	evhttp_add_header(out, "Content-Type", "application/xml");
	evbuffer_add_printf(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code>"
	                    "<Message>Signature not valid in the specified time frame.</Message></Error>");
	evhttp_send_reply(req, 403, "Forbidden", b);
	evbuffer_free(b);
}

/* See sim.h. */
int usage_listen(struct sim *sim, const char *listen)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	sim->dl_http = evhttp_new(sim->base);
	if (sim->dl_http == NULL)
		return -1;
	evhttp_set_gencb(sim->dl_http, download_cb, sim);
	bound = evhttp_bind_socket_with_handle(sim->dl_http, listen, 0);
	if (bound == NULL || getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	int one = 1; /* accepted sockets inherit it: no 40 ms stalls on loopback */
	setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sim->dl_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                               : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/* See sim.h. */
void usage_shutdown(struct sim *sim)
{
	while (sim->blobs != NULL) {
		struct usage_blob *b = sim->blobs;
		sim->blobs = b->next;
		free(b->body);
		free(b);
	}
	if (sim->dl_http != NULL)
		evhttp_free(sim->dl_http);
	sim->dl_http = NULL;
}

static const char *query_value(struct evkeyvalq *q, const char *name)
{
	for (struct evkeyval *kv = q->tqh_first; kv; kv = kv->next.tqe_next) {
		const char *k = kv->key[0] == '$' ? kv->key + 1 : kv->key;
		if (strcasecmp(k, name) == 0)
			return kv->value;
	}
	return NULL;
}

/* "receivedDateTime ge X and receivedDateTime le Y [and senderAddress eq 'a']". */
static int trace_filter(const char *f, int64_t *ge, int64_t *le, char *sender, size_t n)
{
	char buf[600], *save = NULL;

	*ge = *le = 0;
	sender[0] = '\0';
	snprintf(buf, sizeof(buf), "%s", f);
	for (char *tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		if (strcasecmp(tok, "and") == 0)
			continue;
		char *op = strtok_r(NULL, " ", &save), *val = strtok_r(NULL, " ", &save);
		if (op == NULL || val == NULL)
			return -1;
		if (strcasecmp(tok, "receivedDateTime") == 0) {
			int64_t t;
			if (sim_iso_parse(val, &t) < 0)
				return -1;
			if (strcasecmp(op, "ge") == 0)
				*ge = t;
			else if (strcasecmp(op, "le") == 0)
				*le = t;
			else
				return -1;
		} else if (strcasecmp(tok, "senderAddress") == 0 && strcasecmp(op, "eq") == 0) {
			size_t l = strlen(val);
			if (l < 2 || val[0] != '\'' || val[l - 1] != '\'')
				return -1;
			snprintf(sender, n, "%.*s", (int)(l - 2), val + 1);
		} else {
			return -1;
		}
	}
	return *ge && *le ? 0 : -1;
}

/* See sim.h. */
void trace_handle(struct sim_req *r)
{
	struct sim *sim = r->sim;
	struct sim_tenant *t = usage_tenant(r, "ExchangeMessageTrace.Read.All");
	struct sim_usage *su = t ? t->usage : NULL;
	struct evkeyvalq q;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
	const char *query = evhttp_uri_get_query(u);
	char sender[320];
	int64_t ge, le, now = sim_now(sim);
	long top = 1000, skip = 0;

	sim->stats.traces++;
	if (t == NULL)
		return;
	if (su->trace_provisioning) {
		sim_graph_error(r, 401, "UnknownError", "The service principal for the application " TRACE_APP_ID
		                " (Microsoft Exchange Online message trace) is not yet provisioned in this tenant.");
		return;
	}
	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		sim_graph_error(r, 400, "BadRequest", "Malformed query string.");
		goto out;
	}
	const char *filter = query_value(&q, "filter"), *top_s = query_value(&q, "top"), *sk = query_value(&q, "skiptoken");
	if (filter == NULL || trace_filter(filter, &ge, &le, sender, sizeof(sender)) < 0) {
		sim_graph_error(r, 400, "BadRequest", "The $filter must name receivedDateTime ge and le (and may name "
		                "senderAddress eq).");
		goto out;
	}
	if (le < ge || le - ge > TRACE_MAX_SPAN) {
		sim_graph_error(r, 400, "BadRequest", "The date range must not exceed 10 days.");
		goto out;
	}
	if (now - ge > TRACE_MAX_AGE) {
		sim_graph_error(r, 400, "BadRequest", "The start date must be within the last 90 days.");
		goto out;
	}
	if (top_s != NULL && ((top = strtol(top_s, NULL, 10)) < 1 || top > 5000)) {
		sim_graph_error(r, 400, "BadRequest", "Invalid page size specified: '%s'. Must be between 1 and 5000.", top_s);
		goto out;
	}
	if (sk != NULL)
		skip = strtol(sk, NULL, 10);
	struct evbuffer *b = evbuffer_new();
	long k = 0, served = 0;
	bool more = false;
	evbuffer_add_printf(b, "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#admin/exchange/"
	                    "tracing/messageTraces\",\"value\":[");
	for (size_t i = 0; i < su->n_trace && !more; i++) {
		const struct trace_series *s = &su->trace[i];
		if (sender[0] && strcasecmp(sender, s->sender) != 0)
			continue;
		for (long j = 0; j < s->count; j++) {
			int64_t at = s->at + j * s->every;
			char id[37], ts[40];
			if (at < ge || at > le || at > now)
				continue;
			if (k++ < skip)
				continue;
			if (served == top) {
				more = true;
				break;
			}
			sim_guid((uint64_t)sim_hash(s->sender) ^ (uint64_t)i, (uint64_t)j, id);
			sim_iso_format(at, false, ts, sizeof(ts));
			evbuffer_add_printf(b, "%s{\"id\":\"%s\",\"messageId\":\"<%s@%s>\",\"receivedDateTime\":\"%s\","
			                    "\"senderAddress\":", served ? "," : "", id, id, "sim", ts);
			sim_json_str(b, s->sender);
			evbuffer_add_printf(b, ",\"recipientAddress\":");
			sim_json_str(b, s->recipient);
			evbuffer_add_printf(b, ",\"subject\":\"Scan\",\"size\":48213,\"status\":\"delivered\",\"fromIP\":");
			sim_json_str(b, s->ip);
			evbuffer_add_printf(b, ",\"toIP\":null}");
			served++;
		}
	}
	evbuffer_add(b, "]", 1);
	if (more) {
		char *enc = evhttp_uriencode(filter, -1, 0);
		evbuffer_add_printf(b, ",\"@odata.nextLink\":\"%s?$filter=%s&$top=%ld&$skiptoken=%ld\"", r->base_url, enc,
		                    top, skip + served);
		free(enc);
	}
	evbuffer_add(b, "}", 1);
	sim_reply(r, 200, b);
out:
	evhttp_clear_headers(&q);
}

/* See sim.h. */
void usage_control(struct sim_req *r, struct sim_tenant *t, json_t *j)
{
	struct sim_usage *su = t->usage;
	json_t *v;

	if (!json_is_object(j)) {
		sim_graph_error(r, 400, "BadRequest", "expected an object");
		return;
	}
	if ((v = json_object_get(j, "concealed")) != NULL)
		su->concealed = json_is_true(v);
	if ((v = json_object_get(j, "no_p1")) != NULL)
		su->no_p1 = json_is_true(v);
	if ((v = json_object_get(j, "trace_provisioning")) != NULL)
		su->trace_provisioning = json_is_true(v);
	if ((v = json_object_get(j, "csv")) != NULL) {
		free(su->csv);
		su->csv = json_is_string(v) ? sim_xstrdup(json_string_value(v)) : NULL;
	}
	if ((v = json_object_get(j, "location")) != NULL) {
		free(su->location);
		su->location = json_is_string(v) ? sim_xstrdup(json_string_value(v)) : NULL;
	}
	if ((v = json_object_get(j, "withhold_permissions")) != NULL && json_is_array(v)) {
		json_decref(t->withheld);
		t->withheld = json_deep_copy(v);
	}
	if ((v = json_object_get(j, "refresh")) != NULL && json_is_string(v) &&
	    sim_time_parse(json_string_value(v), sim_now(r->sim), &su->refresh) < 0) {
		sim_graph_error(r, 400, "BadRequest", "refresh: not a time");
		return;
	}
	sim_reply_json(r, 200, json_pack("{s:b,s:b,s:b}", "ok", 1, "concealed", su->concealed, "no_p1", su->no_p1));
}
