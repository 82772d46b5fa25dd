/* alert.c: the alert struct and its SPEC document. */
#include "alert.h"

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
	r |= json_object_set_new(doc, "id", json_string(a->id));
	r |= json_object_set_new(doc, "rule", string_or_null(a->rule));
	r |= json_object_set_new(doc, "severity", json_string(sw_severity_name(a->severity)));
	r |= json_object_set_new(doc, "tenant", string_or_null(a->tenant));
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

/* The document's members after "evidence" (never empty: "remediation" is
 * always there).  NULL only on out of memory. */
static json_t *document_tail(const struct sw_alert *a)
{
	json_t *doc = json_object();
	int r = 0;

	if (doc == NULL)
		return NULL;
	r |= json_object_set_new(doc, "remediation", string_or_null(a->remediation));
	r |= json_object_set_new(doc, "transition", json_integer(a->transition));
	r |= json_object_set_new(doc, "acked", json_boolean(a->acked));
	if (a->acked && a->ack_note != NULL)
		r |= json_object_set_new(doc, "ack_note", string_lossy(a->ack_note));
	if (a->silenced_until > 0) {
		r |= json_object_set_new(doc, "silenced", json_true());
		r |= json_object_set_new(doc, "silenced_until", sw_json_time(a->silenced_until));
	}
	if (a->status == SW_ALERT_RESOLVED)
		r |= json_object_set_new(doc, "resolved_at", sw_json_time(a->resolved_at));
	if (r != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* See alert.h. */
json_t *sw_alert_document(const struct sw_alert *a)
{
	json_t *doc = document_head(a);
	json_t *tail = document_tail(a);
	json_t *evidence;
	int r = 0;

	if (doc == NULL || tail == NULL)
		goto fail;
	evidence = json_is_object(a->evidence) ? json_deep_copy(a->evidence) : json_object();
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
 * tail is overwritten with ",". */
int sw_alert_document_dump(const struct sw_alert *a, const char *evidence, struct sw_buf *buf)
{
	json_t *head = document_head(a);
	json_t *tail = document_tail(a);
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
	return r;
}
