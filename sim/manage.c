/* manage.c: the Office 365 Management Activity API of a tenant: the
 * Audit.Exchange subscription, content listings in windows of at most 24
 * hours (not older than 7 days) paged by the NextPageUri header, and the
 * content blobs holding the scenario's admin audit records.
 *
 * A blob holds the records of one CreationTime second that become visible
 * at the same time.  Its contentCreated is that CreationTime, but the
 * listing shows it only once the simulator clock reaches the records'
 * visible time: a record written late lands in a window a client listed
 * before, as Microsoft's do, and only a client that re-reads an overlap
 * finds it.  A "duplicate" record is also in a second blob a minute
 * later (Microsoft repeats records). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "sim.h"

#define SEVEN_DAYS (7 * 86400 * TICKS_PER_SEC)
#define DAY (86400 * TICKS_PER_SEC)

/* A Management API error: {"error":{"code":"AF...","message":...}}. */
void manage_error(struct sim_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sim_reply_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

/* The answer of a status fault on this API. */
void manage_fault_reply(struct sim_req *r, int status)
{
	switch (status) {
	case 401:
		manage_error(r, 401, "AF10001", "Authorization has been denied for this request.");
		break;
	case 403:
		manage_error(r, 403, "AF10001",
			"The permission set () sent in the request did not include the expected permission "
			"ActivityFeed.Read.");
		break;
	case 404:
		manage_error(r, 404, "AF20050", "The specified content does not exist.");
		break;
	case 429:
		manage_error(r, 429, "AF429", "Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000");
		break;
	default:
		manage_error(r, status, "AF50000", "An internal error occurred. Retry the request.");
		break;
	}
}

void audit_rec_free(struct sim_audit_rec *a)
{
	free(a->id);
	free(a->user);
	free(a->ip);
	free(a->operation);
	free(a->object_id);
	free(a->result);
	json_decref(a->parameters);
	json_decref(a->raw);
}

static int audit_cmp(const void *x, const void *y)
{
	const struct sim_audit_rec *a = x, *b = y;
	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return a->order < b->order ? -1 : (a->order > b->order);
}

/* Parse audit records (scenario "audit.records" or POST /_sim/tenants/T/audit):
 * {"at","user","ip","operation","parameters" (object, array of {Name,Value}
 * or a PowerShell-style string),"object_id","user_type","result","id",
 * "visible_after","duplicate","raw" (fields merged over the record)}. */
int scenario_add_audit(struct sim_tenant *t, json_t *arr, int64_t base, const char *where0, char *err, size_t errn)
{
	static const char *const keys[] = { "at", "user", "ip", "operation", "parameters", "object_id", "user_type",
		"result", "id", "visible_after", "duplicate", "raw", NULL };
	size_t i;
	json_t *o;

	if (!json_is_array(arr)) {
		snprintf(err, errn, "%s: expected an array of audit records", where0);
		return -1;
	}
	json_array_foreach(arr, i, o) {
		char where[300];
		struct sim_audit_rec a = { 0 };
		json_t *v;

		snprintf(where, sizeof(where), "%s[%zu]", where0, i);
		if (!json_is_object(o)) {
			snprintf(err, errn, "%s: expected an object", where);
			return -1;
		}
		if (sim_check_keys(o, keys, where, err, errn) < 0)
			return -1;
		v = json_object_get(o, "at");
		a.at = base;
		if (v != NULL && (!json_is_string(v) || sim_time_parse(json_string_value(v), base, &a.at) < 0)) {
			snprintf(err, errn, "%s.at: bad time", where);
			return -1;
		}
		a.at -= a.at % TICKS_PER_SEC;
		int64_t late = 0;
		v = json_object_get(o, "visible_after");
		if (v != NULL && (!json_is_string(v) || sim_duration_parse(json_string_value(v), &late) < 0)) {
			snprintf(err, errn, "%s.visible_after: bad duration", where);
			return -1;
		}
		a.visible = a.at + late - late % TICKS_PER_SEC;
		v = json_object_get(o, "operation");
		if (!json_is_string(v)) {
			snprintf(err, errn, "%s.operation: required string (e.g. \"Set-CASMailbox\")", where);
			return -1;
		}
		a.operation = sim_xstrdup(json_string_value(v));
		v = json_object_get(o, "parameters");
		if (v != NULL && !json_is_object(v) && !json_is_array(v) && !json_is_string(v)) {
			audit_rec_free(&a);
			snprintf(err, errn, "%s.parameters: expected an object, an array or a string", where);
			return -1;
		}
		if (json_is_object(v)) {
			/* {"Identity": "x", "SmtpClientAuthenticationDisabled": "False"} -> [{Name, Value}] */
			const char *k;
			json_t *pv, *list = json_array();
			json_object_foreach(v, k, pv) {
				char *text = json_is_string(pv) ? sim_xstrdup(json_string_value(pv))
								 : json_dumps(pv, JSON_ENCODE_ANY | JSON_COMPACT);
				json_array_append_new(list, json_pack("{s:s,s:s}", "Name", k, "Value", text));
				free(text);
			}
			a.parameters = list;
		} else if (v != NULL) {
			a.parameters = json_incref(v);
		}
		const char *const strs[] = { "user", "ip", "object_id", "result", "id" };
		char **dst[] = { &a.user, &a.ip, &a.object_id, &a.result, &a.id };
		for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
			v = json_object_get(o, strs[k]);
			if (v != NULL && !json_is_string(v)) {
				audit_rec_free(&a);
				snprintf(err, errn, "%s.%s: expected a string", where, strs[k]);
				return -1;
			}
			if (v != NULL)
				*dst[k] = sim_xstrdup(json_string_value(v));
		}
		v = json_object_get(o, "user_type");
		a.user_type = 2; /* Admin */
		if (v != NULL && !json_is_integer(v)) {
			audit_rec_free(&a);
			snprintf(err, errn, "%s.user_type: expected an integer", where);
			return -1;
		}
		if (v != NULL)
			a.user_type = (int)json_integer_value(v);
		a.duplicate = json_is_true(json_object_get(o, "duplicate"));
		v = json_object_get(o, "raw");
		if (v != NULL && !json_is_object(v)) {
			audit_rec_free(&a);
			snprintf(err, errn, "%s.raw: expected an object", where);
			return -1;
		}
		a.raw = v ? json_incref(v) : NULL;
		if (a.id == NULL) {
			char g[37];
			sim_guid(sim_mix(t->seed ^ 0xa0d17ULL), sim_mix(t->n_audit + 1 + (uint64_t)a.at), g);
			a.id = sim_xstrdup(g);
		}
		if (t->n_audit == t->cap_audit) {
			t->cap_audit = t->cap_audit ? 2 * t->cap_audit : 8;
			t->audit = sim_xrealloc(t->audit, t->cap_audit * sizeof(*t->audit));
		}
		a.order = t->n_audit;
		t->audit[t->n_audit++] = a;
	}
	qsort(t->audit, t->n_audit, sizeof(*t->audit), audit_cmp);
	return 0;
}

/* One blob: the records created at `created` and visible from `visible`. */
struct blob {
	int64_t created, visible;
};

static int blob_cmp(const void *x, const void *y)
{
	const struct blob *a = x, *b = y;
	if (a->visible != b->visible)
		return a->visible < b->visible ? -1 : 1;
	return a->created < b->created ? -1 : (a->created > b->created);
}

/* Copy i of record a (0 the original, 1 the repeat). */
static struct blob rec_blob(const struct sim_audit_rec *a, int copy)
{
	struct blob b = { a->at, a->visible };
	if (copy) {
		b.created += 60 * TICKS_PER_SEC;
		b.visible += 60 * TICKS_PER_SEC;
	}
	return b;
}

/* The blobs of t, sorted by visible time then created, deduplicated. */
static struct blob *blobs_of(const struct sim_tenant *t, size_t *ret_n)
{
	struct blob *v = sim_xmalloc((2 * t->n_audit + 1) * sizeof(*v));
	size_t n = 0, m = 0;

	for (size_t i = 0; i < t->n_audit; i++)
		for (int c = 0; c <= (t->audit[i].duplicate ? 1 : 0); c++)
			v[n++] = rec_blob(&t->audit[i], c);
	qsort(v, n, sizeof(*v), blob_cmp);
	for (size_t i = 0; i < n; i++)
		if (m == 0 || v[m - 1].created != v[i].created || v[m - 1].visible != v[i].visible)
			v[m++] = v[i];
	*ret_n = m;
	return v;
}

/* "YYYYMMDDHHMMSS" of ticks. */
static void compact_time(int64_t ticks, char *out, size_t n)
{
	char iso[40];
	sim_iso_format(ticks, false, iso, sizeof(iso));
	snprintf(out, n, "%.4s%.2s%.2s%.2s%.2s%.2s", iso, iso + 5, iso + 8, iso + 11, iso + 14, iso + 17);
}

/* contentId: CREATED.SEED$VISIBLE$audit_exchange$Audit_Exchange$sim0001. */
static void blob_id(const struct sim_tenant *t, const struct blob *b, char *out, size_t n)
{
	char c[16], v[16];
	compact_time(b->created, c, sizeof(c));
	compact_time(b->visible, v, sizeof(v));
	snprintf(out, n, "%s.%08llx$%s$audit_exchange$Audit_Exchange$sim0001", c,
		(unsigned long long)(t->seed & 0xffffffffULL), v);
}

/* The inverse of compact_time. */
static int compact_parse(const char *s, int64_t *ret)
{
	char iso[32];
	for (int i = 0; i < 14; i++)
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
	snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", s, s + 4, s + 6, s + 8, s + 10, s + 12);
	return sim_iso_parse(iso, ret);
}

/* startTime/endTime: "2026-12-01", "2026-12-01T10:00", "...T10:00:00"
 * (UTC without a zone, as the API documents them), or with a zone. */
static int window_time(const char *s, int64_t *ret)
{
	char buf[64];
	size_t n = strlen(s);
	if (n == 0 || n > 40)
		return -EINVAL;
	if (n == 10)
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
	else if (n == 16)
		snprintf(buf, sizeof(buf), "%s:00Z", s);
	else if (s[n - 1] != 'Z' && s[n - 1] != 'z' && strchr(s + 19, '+') == NULL && strchr(s + 19, '-') == NULL)
		snprintf(buf, sizeof(buf), "%sZ", s);
	else
		snprintf(buf, sizeof(buf), "%s", s);
	return sim_iso_parse(buf, ret);
}

/* The query parameter key of the request, decoded, or NULL (caller frees). */
static char *query_param(struct sim_req *r, const char *key)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
	const char *q = u ? evhttp_uri_get_query(u) : NULL;
	struct evkeyvalq params;
	char *v = NULL;

	if (q == NULL)
		return NULL;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(q, &params) == 0) {
		const char *p = evhttp_find_header(&params, key);
		if (p != NULL)
			v = sim_xstrdup(p);
	}
	evhttp_clear_headers(&params);
	return v;
}

/* Is contentType Audit.Exchange?  Answers the error otherwise. */
static bool content_type_ok(struct sim_req *r)
{
	char *ct = query_param(r, "contentType");
	bool ok = ct != NULL && strcmp(ct, "Audit.Exchange") == 0;

	if (ct == NULL)
		manage_error(r, 400, "AF20001", "Missing parameter: contentType.");
	else if (!ok)
		manage_error(r, 400, "AF20020", "The specified content type is not valid.");
	free(ct);
	return ok;
}

/* POST .../subscriptions/start?contentType=Audit.Exchange */
static void subscription_start(struct sim_req *r, struct sim_tenant *t)
{
	if (!content_type_ok(r))
		return;
	if (t->audit_sub == AUDIT_OFF) {
		/* What Microsoft answers while unified audit logging is off: an
		 * exception text split across code and message, a stack trace. */
		char oid[37], code[400];
		sim_guid_of("tenant", t->name, oid);
		snprintf(code, sizeof(code), "StartSubscription [CorrId=%s][TenantId=%s,ContentType=Audit.Exchange,"
			"ApplicationId=%s,PublisherId=%s][AppId", r->request_id, t->tenant_id ? t->tenant_id : oid,
			t->client_id, t->tenant_id ? t->tenant_id : oid);
		manage_error(r, 400, code, "%s] failed. Exception: Microsoft.Office.Compliance.Audit.DataServiceException: "
			"Tenant %s does not exist.\r\n   at Microsoft.Office.Compliance.Audit.API.AzureManager."
			"<GetSubscriptionTableClientForTenantAsync>d__52.MoveNext()", t->client_id,
			t->tenant_id ? t->tenant_id : oid);
		return;
	}
	if (t->audit_sub == AUDIT_SUB_DISABLED) {
		manage_error(r, 400, "AF20023", "The subscription was disabled by %s.",
			t->audit_disabled_by ? t->audit_disabled_by : "an administrator");
		return;
	}
	if (t->audit_sub == AUDIT_SUB_ENABLED) {
		manage_error(r, 400, "AF20024", "The subscription is already enabled. No property change.");
		return;
	}
	t->audit_sub = AUDIT_SUB_ENABLED;
	sim_reply_json(r, 200, json_pack("{s:s,s:s,s:n}", "contentType", "Audit.Exchange", "status", "enabled",
				       "webhook"));
}

/* GET .../subscriptions/content?contentType=&startTime=&endTime=[&nextPage=N] */
static void content_list(struct sim_req *r, struct sim_tenant *t, const char *api)
{
	int64_t now = sim_now(r->sim), start, end;
	char *st = NULL, *et = NULL, *np = NULL;

	if (!content_type_ok(r))
		return;
	if (t->audit_sub == AUDIT_SUB_DISABLED) {
		manage_error(r, 400, "AF20023", "The subscription was disabled by %s.",
			t->audit_disabled_by ? t->audit_disabled_by : "an administrator");
		return;
	}
	if (t->audit_sub != AUDIT_SUB_ENABLED) {
		manage_error(r, 400, "AF20022", "No subscription found for the specified content type.");
		return;
	}
	st = query_param(r, "startTime");
	et = query_param(r, "endTime");
	np = query_param(r, "nextPage");
	if ((st == NULL) != (et == NULL)) {
		manage_error(r, 400, "AF20055", "Start time and end time must both be specified (or both omitted) and "
			"they must be less than or equal to 24 hours apart.");
		goto out;
	}
	if (st == NULL) {
		end = now;
		start = now - DAY;
	} else if (window_time(st, &start) < 0 || window_time(et, &end) < 0) {
		manage_error(r, 400, "AF20002", "Invalid parameter type: startTime/endTime. Expected type: DateTime");
		goto out;
	}
	if (end <= start || end - start > DAY) {
		manage_error(r, 400, "AF20055", "Start time and end time must both be specified (or both omitted) and "
			"they must be less than or equal to 24 hours apart.");
		goto out;
	}
	if (start < now - SEVEN_DAYS) {
		manage_error(r, 400, "AF20056", "Start time cannot be more than 7 days in the past.");
		goto out;
	}
	long offset = 0;
	if (np != NULL) {
		char *e = NULL;
		offset = strtol(np, &e, 10);
		if (*np == '\0' || *e != '\0' || offset < 0) {
			manage_error(r, 400, "AF20031", "Invalid nextPage Input: %s.", np);
			goto out;
		}
	}
	size_t nb;
	struct blob *bs = blobs_of(t, &nb);
	json_t *arr = json_array();
	long seen = 0, shown = 0;
	bool more = false;
	for (size_t i = 0; i < nb; i++) {
		const struct blob *b = &bs[i];
		/* listed by contentCreated, once visible */
		if (b->created < start || b->created >= end || b->visible > now)
			continue;
		if (seen++ < offset)
			continue;
		if (shown == r->sim->audit_page_size) {
			more = true;
			break;
		}
		char id[160], created[40], expires[40], uri[1024];
		blob_id(t, b, id, sizeof(id));
		sim_iso_format(b->created, false, created, sizeof(created));
		sim_iso_format(b->created + SEVEN_DAYS, false, expires, sizeof(expires));
		snprintf(uri, sizeof(uri), "%s/api/v1.0/%s/activity/feed/audit/%s", r->base_url, api, id);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s}", "contentType", "Audit.Exchange",
					       "contentId", id, "contentUri", uri, "contentCreated", created,
					       "contentExpiration", expires));
		shown++;
	}
	free(bs);
	if (more) {
		char next[900], s1[40], s2[40];
		sim_iso_format(start, false, s1, sizeof(s1));
		sim_iso_format(end, false, s2, sizeof(s2));
		s1[19] = s2[19] = '\0'; /* the API's own spelling: no zone */
		snprintf(next, sizeof(next),
			"%s/api/v1.0/%s/activity/feed/subscriptions/content?contentType=Audit.Exchange&startTime=%s"
			"&endTime=%s&nextPage=%ld",
			r->base_url, api, s1, s2, offset + shown);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "NextPageUri", next);
	}
	r->sim->stats.audit_blobs_listed += (unsigned long)shown;
	sim_reply_json(r, 200, arr);
out:
	free(st);
	free(et);
	free(np);
}

/* A record as the audit log writes it. */
static json_t *record_json(const struct sim_tenant *t, const struct sim_audit_rec *a)
{
	char created[40], oid[37], ukey[37];
	sim_iso_format(a->at, false, created, sizeof(created));
	created[19] = '\0'; /* CreationTime has no zone */
	sim_guid_of("tenant", t->name, oid);
	sim_guid_of("userkey", a->user ? a->user : "", ukey);
	json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:i,s:i,s:s,s:s,s:s,s:s,s:s}", "CreationTime", created,
		"Id", a->id, "Operation", a->operation, "OrganizationId", t->tenant_id ? t->tenant_id : oid, "RecordType",
		1, "ResultStatus", a->result ? a->result : "True", "UserKey", ukey, "UserType", a->user_type, "Version",
		1, "Workload", "Exchange", "ObjectId", a->object_id ? a->object_id : "", "UserId",
		a->user ? a->user : "", "OrganizationName", t->name, "OriginatingServer", "AM0PR01MB0001 (15.20.7000.000)");
	if (a->ip != NULL)
		json_object_set_new(rec, "ClientIP", json_string(a->ip));
	json_object_set_new(rec, "ExternalAccess", json_false());
	json_object_set_new(rec, "Parameters", a->parameters ? json_incref(a->parameters) : json_array());
	if (a->raw != NULL)
		json_object_update(rec, a->raw);
	return rec;
}

/* GET .../activity/feed/audit/{contentId} */
static void content_get(struct sim_req *r, struct sim_tenant *t, const char *id)
{
	int64_t now = sim_now(r->sim), created, visible;
	const char *dollar = strchr(id, '$');

	if (strlen(id) < 15 || compact_parse(id, &created) < 0 || dollar == NULL || compact_parse(dollar + 1, &visible) < 0) {
		manage_error(r, 400, "AF20052", "Content ID %s in the URL is invalid.", id);
		return;
	}
	if (visible > now) {
		manage_error(r, 404, "AF20050", "The specified content (%s) does not exist.", id);
		return;
	}
	if (created + SEVEN_DAYS < now) {
		manage_error(r, 404, "AF20051", "Content requested with the key %s has already expired. Content older "
			"than 7 days cannot be retrieved.", id);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < t->n_audit; i++) {
		const struct sim_audit_rec *a = &t->audit[i];
		for (int c = 0; c <= (a->duplicate ? 1 : 0); c++) {
			struct blob b = rec_blob(a, c);
			if (b.created == created && b.visible == visible)
				json_array_append_new(arr, record_json(t, a));
		}
	}
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		manage_error(r, 404, "AF20050", "The specified content (%s) does not exist.", id);
		return;
	}
	r->sim->stats.audit_records_served += json_array_size(arr);
	sim_reply_json(r, 200, arr);
}

/* See sim.h.  rest is what follows /api/v1.0/: "{tenant}/activity/feed/..." */
void manage_handle(struct sim_req *r, const char *rest, enum evhttp_cmd_type method)
{
	const char *slash = strchr(rest, '/');
	struct sim_token *tok;
	struct sim_tenant *t;
	char api[200];

	if (slash == NULL || (size_t)(slash - rest) >= sizeof(api)) {
		manage_error(r, 404, "AF20011", "Specified tenant ID does not exist in the system or has been deleted.");
		return;
	}
	snprintf(api, sizeof(api), "%.*s", (int)(slash - rest), rest);
	t = (struct sim_tenant *)r->tenant;
	if (t == NULL) {
		manage_error(r, 400, "AF20011", "Specified tenant ID (%s) does not exist in the system or has been deleted.",
			api);
		return;
	}
	tok = token_require(r, TOKEN_MANAGE);
	if (tok == NULL)
		return;
	if (tok->tenant != t) {
		manage_error(r, 401, "AF20010", "The tenant ID passed in the URL (%s) does not match the tenant ID passed "
			"in the access token (%s).", api, tok->tenant->name);
		return;
	}
	/* The service throttles requests without PublisherIdentifier in one
	 * quota shared by all such clients: count them, for the tests. */
	char *pub = query_param(r, "PublisherIdentifier");
	if (pub == NULL || pub[0] == '\0')
		r->sim->stats.audit_no_publisher++;
	free(pub);
	const char *op = slash + 1;
	if (strcmp(op, "activity/feed/subscriptions/start") == 0) {
		if (method != EVHTTP_REQ_POST)
			manage_error(r, 405, "AF20054", "Invalid syntax in the request: use POST.");
		else
			subscription_start(r, t);
	} else if (strcmp(op, "activity/feed/subscriptions/content") == 0) {
		content_list(r, t, api);
	} else if (strncmp(op, "activity/feed/audit/", 20) == 0) {
		char *id = evhttp_uridecode(op + 20, 0, NULL);
		content_get(r, t, id);
		free(id);
	} else if (strcmp(op, "activity/feed/subscriptions/list") == 0) {
		json_t *arr = json_array();
		if (t->audit_sub != AUDIT_SUB_NONE)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:n}", "contentType", "Audit.Exchange", "status",
						       t->audit_sub == AUDIT_SUB_ENABLED ? "enabled" : "disabled",
						       "webhook"));
		sim_reply_json(r, 200, arr);
	} else {
		manage_error(r, 404, "AF20054", "Invalid syntax in the request.");
	}
}
