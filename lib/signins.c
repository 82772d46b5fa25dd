/* signins.c: Microsoft Graph auditLogs/signIns pages -> records (pure). */
#include "signins.h"

#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A string member of obj duplicated, or NULL when it is absent, null, not
 * a string or empty.  -ENOMEM only when strdup fails. */
static int dup_member(const json_t *obj, const char *key, bool lower, char **ret)
{
	const char *v = json_string_value(json_object_get(obj, key));

	*ret = NULL;
	if (v == NULL || v[0] == '\0')
		return 0;
	*ret = lower ? sw_strdup_lower(v) : strdup(v);
	return *ret == NULL ? -ENOMEM : 0;
}

/* status.errorCode: 0 is a success.  A code that is not a whole number
 * within int (5e126, 4294967296, 1.5) is a failure of unknown kind (-1),
 * never truncated into another code or into 0.  Absent or null: 0. */
static int error_code(const json_t *code)
{
	if (json_is_integer(code)) {
		json_int_t v = json_integer_value(code);
		return v >= INT_MIN && v <= INT_MAX ? (int)v : -1;
	}
	if (json_is_real(code)) {
		double v = json_real_value(code);
		return v >= INT_MIN && v <= INT_MAX && v == (double)(int)v ? (int)v : -1;
	}
	return code == NULL || json_is_null(code) ? 0 : -1;
}

/* Fill s from one record.  1 when the record lacks an id or a parsable
 * createdDateTime (the caller skips it), 0 when filled, -ENOMEM. */
static int signin_from_json(const json_t *rec, struct sw_signin *s)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	const char *created = json_string_value(json_object_get(rec, "createdDateTime"));
	const json_t *status = json_object_get(rec, "status");
	const json_t *location = json_object_get(rec, "location");
	const json_t *code;
	int64_t t;
	int r = -ENOMEM;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(rec) || id == NULL || id[0] == '\0' || created == NULL)
		return 1;
	if (sw_time_parse(created, &t) < 0)
		return 1;
	s->created = t;
	s->id = strdup(id);
	s->created_text = strdup(created);
	if (s->id == NULL || s->created_text == NULL)
		goto fail;
	if (dup_member(rec, "userPrincipalName", true, &s->upn) < 0 ||
	    dup_member(rec, "userId", false, &s->user_id) < 0 ||
	    dup_member(rec, "appId", false, &s->app_id) < 0 ||
	    dup_member(rec, "ipAddress", false, &s->ip) < 0 ||
	    dup_member(rec, "clientAppUsed", false, &s->client_app) < 0 ||
	    dup_member(rec, "correlationId", false, &s->correlation_id) < 0)
		goto fail;
	/* json_object_get on a non-object (null, {} missing keys) is NULL. */
	code = json_object_get(status, "errorCode");
	s->error_code = error_code(code);
	if (dup_member(status, "failureReason", false, &s->failure_reason) < 0 ||
	    dup_member(location, "countryOrRegion", false, &s->country) < 0 ||
	    dup_member(location, "city", false, &s->city) < 0)
		goto fail;
	return 0;
fail:
	sw_signin_clear(s);
	return r;
}

/* See signins.h. */
int sw_signins_parse(const char *buf, size_t len, struct sw_signin_page *ret, struct sw_error *err)
{
	struct sw_signin_page page = {0};
	json_error_t je;
	json_t *root, *value, *rec;
	const char *next;
	size_t i;
	int r;

	root = json_loadb(buf, len, 0, &je);
	if (root == NULL) {
		if (err != NULL) {
			sw_error_set(err, "<body>", je.line, "invalid JSON at line %d column %d: %s", je.line,
			             je.column, je.text);
			err->column = je.column;
		}
		return -EINVAL;
	}
	value = json_object_get(root, "value");
	if (!json_is_array(value)) {
		if (err != NULL)
			sw_error_set(err, "<body>", 0, "no \"value\" array");
		r = -EINVAL;
		goto fail;
	}
	r = -ENOMEM;
	if (json_array_size(value) > 0) {
		page.items = calloc(json_array_size(value), sizeof(*page.items));
		if (page.items == NULL)
			goto fail;
	}
	json_array_foreach(value, i, rec) {
		int k = signin_from_json(rec, &page.items[page.n]);
		if (k < 0)
			goto fail;
		if (k > 0)
			page.skipped++;
		else
			page.n++;
	}
	next = json_string_value(json_object_get(root, "@odata.nextLink"));
	if (next != NULL && next[0] != '\0') {
		page.next_link = strdup(next);
		if (page.next_link == NULL)
			goto fail;
	}
	/* Free the tree now: it is several times the size of the body. */
	json_decref(root);
	*ret = page;
	return 0;
fail:
	json_decref(root);
	sw_signin_page_clear(&page);
	return r;
}

/* See signins.h. */
void sw_signin_clear(struct sw_signin *s)
{
	if (s == NULL)
		return;
	free(s->id);
	free(s->created_text);
	free(s->upn);
	free(s->user_id);
	free(s->app_id);
	free(s->ip);
	free(s->client_app);
	free(s->correlation_id);
	free(s->failure_reason);
	free(s->country);
	free(s->city);
	memset(s, 0, sizeof(*s));
}

/* See signins.h. */
void sw_signin_page_clear(struct sw_signin_page *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		sw_signin_clear(&p->items[i]);
	free(p->items);
	free(p->next_link);
	memset(p, 0, sizeof(*p));
}

/* See signins.h. */
int sw_graph_error_parse(const char *buf, size_t len, char *out, size_t n)
{
	json_t *root = json_loadb(buf, len, 0, NULL);
	json_t *e = json_object_get(root, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	int r = -EINVAL;

	if (n > 0)
		out[0] = '\0';
	if (code != NULL || msg != NULL) {
		snprintf(out, n, "%s%s%s", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
		r = 0;
	}
	json_decref(root);
	return r;
}
