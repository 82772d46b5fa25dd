/* signins.c: Microsoft Graph auditLogs/signIns pages -> records (pure). */
#include "signins.h"

#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The length of v cut to at most max bytes, backed off to the start of a
 * UTF-8 sequence so that the cut never splits a character. */
static size_t utf8_cut(const char *v, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)v[len] & 0xc0) == 0x80)
		len--;
	return len;
}

/* Why a record is skipped: a field that was not a string where Graph
 * documents one, or was longer than its limit. */
static void why_field(char *why, size_t n, const char *key, size_t max, bool wrong_type)
{
	if (wrong_type)
		snprintf(why, n, "%s is not a string", key);
	else
		snprintf(why, n, "%s longer than %zu bytes", key, max);
}

/* A string member of obj duplicated, or NULL when it is absent, null or
 * empty.  1 with why filled when it is another type, or longer than max
 * unless cut is set (then it is cut to max): the caller skips the record.
 * -ENOMEM only when the copy fails. */
static int dup_member(const json_t *obj, const char *key, size_t max, bool cut, bool lower, char **ret, char *why,
                      size_t n)
{
	const json_t *j = json_object_get(obj, key);
	const char *v = json_string_value(j);
	size_t len = json_string_length(j);

	*ret = NULL;
	if (j != NULL && !json_is_null(j) && v == NULL) {
		why_field(why, n, key, max, true);
		return 1;
	}
	if (v == NULL || v[0] == '\0')
		return 0;
	if (len > max) {
		if (!cut) {
			why_field(why, n, key, max, false);
			return 1;
		}
		len = utf8_cut(v, len, max);
	}
	*ret = strndup(v, len);
	if (lower && *ret != NULL)
		sw_strlower(*ret);
	return *ret == NULL ? -ENOMEM : 0;
}

/* Up to n - 1 bytes of a peer's text for a log line: printable ASCII, the
 * rest (quotes, backslashes, controls, UTF-8) as '?', and "..." when cut. */
static void printable(const char *v, char *out, size_t n)
{
	size_t i = 0;

	for (; v[i] != '\0' && i + 1 < n; i++) {
		unsigned char c = (unsigned char)v[i];
		out[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	out[i] = '\0';
	if (v[i] != '\0' && n > 4)
		memcpy(out + n - 4, "...", 4);
}

/* A nested object member (status, location): an object, or absent/null. */
static bool object_or_null(const json_t *rec, const char *key, char *why, size_t n)
{
	const json_t *j = json_object_get(rec, key);

	if (j == NULL || json_is_null(j) || json_is_object(j))
		return true;
	snprintf(why, n, "%s is not an object", key);
	return false;
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

/* Why the record's id or createdDateTime cannot be read, or NULL. */
static const char *key_problem(const json_t *rec, char *why, size_t n)
{
	const json_t *jid = json_object_get(rec, "id");
	const json_t *jc = json_object_get(rec, "createdDateTime");
	const char *created = json_string_value(jc);
	char text[40];
	int64_t t;

	if (jid == NULL || json_is_null(jid))
		return "no id";
	if (!json_is_string(jid))
		return "id is not a string";
	if (json_string_length(jid) == 0)
		return "empty id";
	if (json_string_length(jid) > SW_SIGNIN_ID_MAX) {
		why_field(why, n, "id", SW_SIGNIN_ID_MAX, false);
		return why;
	}
	if (jc == NULL || json_is_null(jc))
		return "no createdDateTime";
	if (created == NULL)
		return "createdDateTime is not a string";
	if (sw_time_parse(created, &t) < 0) {
		printable(created, text, sizeof(text));
		snprintf(why, n, "createdDateTime \"%s\" unreadable", text);
		return why;
	}
	return NULL;
}

/* Fill s from one record.  1 with why filled when the record cannot be
 * read: not an object, no id or createdDateTime, a field of the wrong type
 * or a key longer than its limit (the caller skips it).  0 when filled,
 * -ENOMEM. */
static int signin_from_json(const json_t *rec, struct sw_signin *s, char *why, size_t n)
{
	const json_t *status = json_object_get(rec, "status");
	const json_t *location = json_object_get(rec, "location");
	const char *problem;
	int r;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(rec)) {
		snprintf(why, n, "not an object");
		return 1;
	}
	problem = key_problem(rec, why, n);
	if (problem != NULL) {
		if (problem != why)
			snprintf(why, n, "%s", problem);
		return 1;
	}
	if (!object_or_null(rec, "status", why, n) || !object_or_null(rec, "location", why, n))
		return 1;
	sw_time_parse(json_string_value(json_object_get(rec, "createdDateTime")), &s->created);
	s->id = strdup(json_string_value(json_object_get(rec, "id")));
	s->created_text = strdup(json_string_value(json_object_get(rec, "createdDateTime")));
	r = s->id == NULL || s->created_text == NULL ? -ENOMEM : 0;
	/* Stop at the first member that fails (-ENOMEM) or cannot be read (1). */
	if (r == 0)
		r = dup_member(rec, "userPrincipalName", SW_SIGNIN_UPN_MAX, false, true, &s->upn, why, n);
	if (r == 0)
		r = dup_member(rec, "userId", SW_SIGNIN_ID_MAX, false, false, &s->user_id, why, n);
	if (r == 0)
		r = dup_member(rec, "appId", SW_SIGNIN_ID_MAX, false, false, &s->app_id, why, n);
	if (r == 0)
		r = dup_member(rec, "ipAddress", SW_SIGNIN_IP_MAX, false, false, &s->ip, why, n);
	if (r == 0)
		r = dup_member(rec, "clientAppUsed", SW_SIGNIN_APP_MAX, false, false, &s->client_app, why, n);
	if (r == 0)
		r = dup_member(rec, "correlationId", SW_SIGNIN_ID_MAX, false, false, &s->correlation_id, why, n);
	/* json_object_get on null or a missing member is NULL. */
	s->error_code = error_code(json_object_get(status, "errorCode"));
	if (r == 0)
		r = dup_member(status, "failureReason", SW_SIGNIN_REASON_MAX, true, false, &s->failure_reason, why, n);
	if (r == 0)
		r = dup_member(location, "countryOrRegion", SW_SIGNIN_COUNTRY_MAX, false, false, &s->country, why, n);
	if (r == 0)
		r = dup_member(location, "city", SW_SIGNIN_CITY_MAX, true, false, &s->city, why, n);
	if (r != 0)
		sw_signin_clear(s);
	return r;
}

/* Note the first few skipped records of a page for the log line. */
static void note_skip(struct sw_signin_page *page, size_t index, const json_t *rec, const char *why)
{
	struct sw_signin_skip *k;
	const char *id = json_string_value(json_object_get(rec, "id"));

	page->skipped++;
	if (page->skipped > SW_SIGNINS_SKIP_NOTES)
		return;
	k = &page->skips[page->skipped - 1];
	k->index = index;
	printable(id ? id : "", k->id, sizeof(k->id));
	snprintf(k->why, sizeof(k->why), "%s", why);
}

/* A free() for a tree whose memory goes with its arena. */
static void arena_free(void *p)
{
	(void)p;
}

/* sw_signins_parse(), with the tree from alloc when it is not NULL (then
 * never freed here). */
static int signins_parse(const char *buf, size_t len, void *(*alloc)(size_t), struct sw_signin_page *ret,
                         struct sw_error *err)
{
	struct sw_signin_page page = {0};
	json_malloc_t old_malloc;
	json_free_t old_free;
	json_error_t je;
	json_t *root, *value, *rec;
	const char *next;
	size_t i;
	int r;

	if (alloc != NULL) {
		json_get_alloc_funcs(&old_malloc, &old_free);
		json_set_alloc_funcs(alloc, arena_free);
	}
	root = json_loadb(buf, len, 0, &je);
	if (alloc != NULL)
		json_set_alloc_funcs(old_malloc, old_free);
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
	if (json_array_size(value) > SW_SIGNINS_PAGE_MAX) {
		if (err != NULL)
			sw_error_set(err, "<body>", 0, "a page of %zu records (Graph sends at most %d)",
			             json_array_size(value), SW_SIGNINS_PAGE_MAX);
		r = -E2BIG;
		goto fail;
	}
	r = -ENOMEM;
	if (json_array_size(value) > 0) {
		page.items = calloc(json_array_size(value), sizeof(*page.items));
		if (page.items == NULL)
			goto fail;
	}
	json_array_foreach(value, i, rec) {
		char why[sizeof(page.skips[0].why)] = "";
		int k = signin_from_json(rec, &page.items[page.n], why, sizeof(why));
		if (k < 0)
			goto fail;
		if (k > 0)
			note_skip(&page, i, rec, why);
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
	if (alloc == NULL)
		json_decref(root);
	*ret = page;
	return 0;
fail:
	if (alloc == NULL)
		json_decref(root);
	sw_signin_page_clear(&page);
	return r;
}

/* See signins.h. */
int sw_signins_parse(const char *buf, size_t len, struct sw_signin_page *ret, struct sw_error *err)
{
	return signins_parse(buf, len, NULL, ret, err);
}

/* See signins.h. */
int sw_signins_parse_arena(const char *buf, size_t len, void *(*alloc)(size_t), struct sw_signin_page *ret,
                           struct sw_error *err)
{
	if (alloc == NULL)
		return -EINVAL;
	return signins_parse(buf, len, alloc, ret, err);
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
