/* alert.c: the alert struct and its SPEC document. */
#include "alert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonutil.h"

/* See alert.h. */
void sw_alert_clear(struct sw_alert *a)
{
	if (a == NULL)
		return;
	free(a->rule);
	free(a->tenant);
	free(a->subject);
	free(a->summary);
	free(a->remediation);
	free(a->ack_note);
	free(a->changed_by);
	json_decref(a->evidence);
	memset(a, 0, sizeof(*a));
}

static const struct sw_name status_names[] = {
	{ SW_ALERT_FIRING, "firing" },
	{ SW_ALERT_RESOLVED, "resolved" },
	{ 0, NULL },
};

/* See alert.h. */
SW_DEFINE_NAME_LOOKUP(sw_alert_status_name, sw_alert_status_parse, enum sw_alert_status, status_names, "unknown")

/* A JSON string even from bytes that are not UTF-8 (a CSV export in
 * Latin-1): non-ASCII bytes then become '?', so the document still goes out. */
static json_t *string_lossy(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL)
		return j;
	copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* A string member, null when absent. */
static json_t *string_or_null(const char *s)
{
	return s ? string_lossy(s) : json_null();
}

/* See alert.h. */
void sw_alert_set_tenant_id(struct sw_alert *a, const struct sw_config *cfg)
{
	const struct sw_tenant_config *t = cfg != NULL && a->tenant != NULL ? sw_config_tenant(cfg, a->tenant) : NULL;

	a->tenant_id = t != NULL ? t->tenant_id : NULL;
}

/* See alert.h. */
int sw_alert_severity_id(enum sw_severity s)
{
	switch (s) {
	case SW_SEV_INFO: return 1;
	case SW_SEV_LOW: return 2;
	case SW_SEV_MEDIUM: return 3;
	case SW_SEV_HIGH: return 4;
	case SW_SEV_CRITICAL: return 5;
	}
	return 0;
}

/* The document's members before "evidence", in SPEC's order (jansson
 * dumps in insertion order).  NULL only on out of memory: json_object_set_new
 * fails (and frees the value) on a NULL value, and an incomplete document
 * is no document. */
static json_t *document_head(const struct sw_alert *a)
{
	json_t *doc = json_object();
	int r = 0;

	if (doc == NULL)
		return NULL;
	r |= json_object_set_new(doc, "schema", json_string(SW_ALERT_SCHEMA));
	r |= json_object_set_new(doc, "id", json_string(a->id));
	r |= json_object_set_new(doc, "rule", string_or_null(a->rule));
	r |= json_object_set_new(doc, "severity", json_string(sw_severity_name(a->severity)));
	r |= json_object_set_new(doc, "severity_id", json_integer(sw_alert_severity_id(a->severity)));
	r |= json_object_set_new(doc, "tenant", string_or_null(a->tenant));
	r |= json_object_set_new(doc, "tenant_id", string_or_null(a->tenant_id));
	r |= json_object_set_new(doc, "subject", string_or_null(a->subject));
	r |= json_object_set_new(doc, "status", json_string(sw_alert_status_name(a->status)));
	r |= json_object_set_new(doc, "first_seen", sw_json_time(a->first_seen));
	r |= json_object_set_new(doc, "last_seen", sw_json_time(a->last_seen));
	r |= json_object_set_new(doc, "count", json_integer(a->count));
	r |= json_object_set_new(doc, "summary", string_lossy(a->summary ? a->summary : ""));
	if (r != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* Is the subject a mailbox (local@domain, no white space)? */
static bool subject_is_mailbox(const char *s)
{
	const char *at = s ? strchr(s, '@') : NULL;

	return at != NULL && at != s && at[1] != '\0' && strpbrk(s, " \t") == NULL && strchr(at + 1, '@') == NULL;
}

/* Is the subject an IPv4 or IPv6 address? */
static bool subject_is_ip(const char *s)
{
	unsigned char addr[16];

	return s != NULL && (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1);
}

/* A new array: first (when not NULL and not already there), then the
 * string items of the evidence list list (an array, or absent). */
static json_t *entity_list(const char *first, const json_t *list)
{
	json_t *out = json_array(), *item;
	size_t i;
	bool have = first == NULL;

	if (out == NULL)
		return NULL;
	json_array_foreach(list, i, item)
		if (first != NULL && json_is_string(item) && strcmp(json_string_value(item), first) == 0)
			have = true;
	if (!have && json_array_append_new(out, string_lossy(first)) < 0)
		goto fail;
	json_array_foreach(list, i, item)
		if (json_is_string(item) && json_array_append(out, item) < 0)
			goto fail;
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* The typed subjects of an alert (SPEC "entities"), from its subject and
 * evidence (an object or NULL).  NULL only on out of memory. */
static json_t *document_entities(const struct sw_alert *a, const json_t *evidence)
{
	const char *mailbox = subject_is_mailbox(a->subject) ? a->subject : NULL;
	const char *ip = mailbox == NULL && subject_is_ip(a->subject) ? a->subject : NULL;
	json_t *e = json_object();
	int r = 0;

	if (e == NULL)
		return NULL;
	r |= json_object_set_new(e, "mailbox", string_or_null(mailbox));
	r |= json_object_set_new(e, "ip", string_or_null(ip));
	r |= json_object_set_new(e, "users", entity_list(mailbox, json_object_get(evidence, "users")));
	r |= json_object_set_new(e, "ips", entity_list(ip, json_object_get(evidence, "ips")));
	r |= json_object_set_new(e, "countries", entity_list(NULL, json_object_get(evidence, "countries")));
	if (r != 0) {
		json_decref(e);
		return NULL;
	}
	return e;
}

/* The document's members after "evidence" (never empty: "remediation" is
 * always there); evidence is the alert's (an object or NULL), for the
 * entities.  NULL only on out of memory. */
static json_t *document_tail(const struct sw_alert *a, const json_t *evidence)
{
	json_t *doc = json_object();
	json_t *changed_by = NULL;
	int r = 0;

	if (doc == NULL)
		return NULL;
	r |= json_object_set_new(doc, "remediation", string_or_null(a->remediation));
	r |= json_object_set_new(doc, "transition", json_integer(a->transition));
	r |= json_object_set_new(doc, "transition_at", sw_json_time_or_null(a->transition_at));
	r |= json_object_set_new(doc, "resolved_at", a->status == SW_ALERT_RESOLVED ? sw_json_time(a->resolved_at)
	                                                                          : json_null());
	r |= json_object_set_new(doc, "entities", document_entities(a, evidence));
	/* What the store keeps is what jansson dumped; a row edited by hand
	 * into something else loses it rather than the document. */
	if (a->changed_by != NULL)
		changed_by = json_loads(a->changed_by, 0, NULL);
	if (json_is_object(changed_by))
		r |= json_object_set_new(doc, "changed_by", changed_by);
	else
		json_decref(changed_by);
	r |= json_object_set_new(doc, "acked", json_boolean(a->acked));
	if (a->acked && a->ack_note != NULL)
		r |= json_object_set_new(doc, "ack_note", string_lossy(a->ack_note));
	if (a->silenced_until > 0) {
		r |= json_object_set_new(doc, "silenced", json_true());
		r |= json_object_set_new(doc, "silenced_until", sw_json_time(a->silenced_until));
	}
	if (r != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* See alert.h. */
json_t *sw_alert_document(const struct sw_alert *a)
{
	const json_t *ev = json_is_object(a->evidence) ? a->evidence : NULL;
	json_t *doc = document_head(a);
	json_t *tail = document_tail(a, ev);
	json_t *evidence;
	int r = 0;

	if (doc == NULL || tail == NULL)
		goto fail;
	evidence = ev != NULL ? json_deep_copy(ev) : json_object();
	r |= json_object_set_new(doc, "evidence", evidence);
	r |= json_object_update(doc, tail);
	if (r != 0)
		goto fail;
	json_decref(tail);
	return doc;
fail:
	json_decref(doc);
	json_decref(tail);
	return NULL;
}

/* json_dump_callback's sink: append to a struct sw_buf. */
static int dump_buf_cb(const char *p, size_t n, void *arg)
{
	return sw_buf_append(arg, p, n);
}

/* Append obj as compact JSON. */
static int dump_append(const json_t *obj, struct sw_buf *buf)
{
	return json_dump_callback(obj, dump_buf_cb, buf, JSON_COMPACT) == 0 ? 0 : -ENOMEM;
}

/* See alert.h.  The head and the tail are dumped as objects and joined
 * around the evidence: "{head}" loses its "}", and the "{" that opens the
 * tail is overwritten with ",".  The entities need the evidence's lists:
 * evidence text is parsed for them, once (the tree is not dumped again). */
int sw_alert_document_dump(const struct sw_alert *a, const char *evidence, struct sw_buf *buf)
{
	json_t *parsed = evidence != NULL ? json_loads(evidence, 0, NULL) : NULL;
	const json_t *ev = evidence != NULL ? parsed : a->evidence;
	json_t *head = document_head(a);
	json_t *tail = document_tail(a, json_is_object(ev) ? ev : NULL);
	size_t start = buf->len, at;
	int r = -ENOMEM;

	if (head == NULL || tail == NULL || dump_append(head, buf) < 0)
		goto out;
	buf->len--;
	if (sw_buf_append(buf, ",\"evidence\":", 12) < 0)
		goto out;
	if (evidence != NULL)
		r = sw_buf_append(buf, evidence, strlen(evidence));
	else if (json_is_object(a->evidence))
		r = dump_append(a->evidence, buf);
	else
		r = sw_buf_append(buf, "{}", 2);
	if (r < 0)
		goto out;
	at = buf->len;
	r = dump_append(tail, buf);
	if (r < 0)
		goto out;
	buf->data[at] = ',';
	r = 0;
out:
	if (r < 0 && buf->data != NULL) {
		buf->len = start;
		buf->data[start] = '\0';
	}
	json_decref(head);
	json_decref(tail);
	json_decref(parsed);
	return r;
}
