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

/* The writer below appends the document's members straight to the
 * buffer, in the bytes jansson's compact dump gives (test_alert checks
 * them against sw_alert_document()): building a tree per alert and
 * dumping it was most of a long `alerts` reply (bench/README.md). */

/* Append s as jansson dumps a string: '"', '\' and the controls escaped
 * (\b \f \n \r \t, else \u00XX), the rest as is; when s is not UTF-8,
 * every byte from 0x80 becomes '?' (string_lossy). */
static int put_string(struct sw_buf *b, const char *s)
{
	bool lossy = !sw_utf8_valid(s);
	const char *run = s, *p;
	int r = sw_buf_putc(b, '"');

	for (p = s; r >= 0 && *p; p++) {
		unsigned char c = (unsigned char)*p;
		char u[8];
		const char *esc = NULL;

		if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || !lossy))
			continue;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (c < 0x20)
				snprintf(u, sizeof(u), "\\u%04X", c);
			else
				snprintf(u, sizeof(u), "?");
			esc = u;
		}
		r = sw_buf_append(b, run, (size_t)(p - run));
		if (r >= 0)
			r = sw_buf_append(b, esc, strlen(esc));
		run = p + 1;
	}
	if (r >= 0)
		r = sw_buf_append(b, run, (size_t)(p - run));
	if (r >= 0)
		r = sw_buf_putc(b, '"');
	return r;
}

/* ,"key": (the first member without the comma). */
static int put_key(struct sw_buf *b, const char *key, bool first)
{
	size_t n = strlen(key);
	int r = sw_buf_append(b, first ? "\"" : ",\"", first ? 1 : 2);

	if (r >= 0)
		r = sw_buf_append(b, key, n);
	if (r >= 0)
		r = sw_buf_append(b, "\":", 2);
	return r;
}

static int put_str_member(struct sw_buf *b, const char *key, const char *v)
{
	int r = put_key(b, key, false);

	if (r < 0)
		return r;
	return v != NULL ? put_string(b, v) : sw_buf_append(b, "null", 4);
}

static int put_int_member(struct sw_buf *b, const char *key, int64_t v)
{
	int r = put_key(b, key, false);

	return r < 0 ? r : sw_buf_printf(b, "%lld", (long long)v);
}

static int put_time_member(struct sw_buf *b, const char *key, int64_t t, bool or_null)
{
	char buf[32];

	if (or_null && t <= 0)
		return put_str_member(b, key, NULL);
	sw_time_format(t, buf, sizeof(buf));
	return put_str_member(b, key, buf);
}

/* entity_list() as text: first (when not NULL and not in the list), then
 * the list's strings. */
static int put_entity_list(struct sw_buf *b, const char *key, const char *first, const json_t *list)
{
	const json_t *item;
	size_t i, n = 0;
	bool have = first == NULL;
	int r = put_key(b, key, false);

	json_array_foreach(list, i, item)
		if (first != NULL && json_is_string(item) && strcmp(json_string_value(item), first) == 0)
			have = true;
	if (r >= 0)
		r = sw_buf_putc(b, '[');
	if (r >= 0 && !have) {
		r = put_string(b, first);
		n++;
	}
	json_array_foreach(list, i, item) {
		if (r < 0)
			break;
		if (!json_is_string(item))
			continue;
		if (n++ > 0)
			r = sw_buf_putc(b, ',');
		if (r >= 0)
			r = put_string(b, json_string_value(item));
	}
	if (r >= 0)
		r = sw_buf_putc(b, ']');
	return r;
}

/* Past the string that starts at p (at its opening '"'), or at its NUL. */
static const char *skip_string(const char *p)
{
	for (p++;;) {
		p += strcspn(p, "\"\\");
		if (*p != '\\')
			return *p == '"' ? p + 1 : p;
		p += p[1] ? 2 : 1;
	}
}

/* The values of the top-level members keys[0..n) of the compact JSON
 * object text (valid JSON, as SQLite's json() gives), parsed, in ret (NULL
 * when absent; the last of a key given twice): three small arrays read
 * instead of the whole evidence, in one pass over it. */
static void evidence_lists(const char *text, const char *const *keys, size_t n, json_t **ret)
{
	const char *p = text;

	for (size_t i = 0; i < n; i++)
		ret[i] = NULL;
	if (*p++ != '{')
		return;
	while (*p == '"') {
		const char *k = p + 1, *v;
		p = skip_string(p);
		if (p[-1] != '"' || *p != ':')
			return;
		size_t klen = (size_t)(p - 1 - k), which = n;
		for (size_t i = 0; i < n; i++)
			if (strlen(keys[i]) == klen && memcmp(k, keys[i], klen) == 0)
				which = i;
		v = ++p;
		/* Skip the value: strings whole, brackets counted. */
		int depth = 0;
		while (*p) {
			if (*p == '"') {
				p = skip_string(p);
				continue;
			}
			if (*p == '[' || *p == '{') {
				depth++;
			} else if (*p == ']' || *p == '}') {
				if (depth == 0)
					break;
				depth--;
			} else if (*p == ',' && depth == 0) {
				break;
			}
			p++;
		}
		if (which < n && p > v) {
			json_decref(ret[which]);
			ret[which] = json_loadb(v, (size_t)(p - v), JSON_DECODE_ANY, NULL);
		}
		if (*p != ',')
			return;
		p++;
	}
}

/* See alert.h.  Without the evidence text, the lists come from a->evidence. */
int sw_alert_document_dump(const struct sw_alert *a, const char *evidence, struct sw_buf *buf)
{
	const json_t *tree = evidence == NULL && json_is_object(a->evidence) ? a->evidence : NULL;
	static const char *const keys[] = {"users", "ips", "countries"};
	json_t *lists[3] = {NULL, NULL, NULL}, *changed_by = NULL;
	json_t *users, *ips, *countries;
	const char *mailbox = subject_is_mailbox(a->subject) ? a->subject : NULL;
	const char *ip = mailbox == NULL && subject_is_ip(a->subject) ? a->subject : NULL;
	size_t start = buf->len;
	int r;

	if (evidence != NULL)
		evidence_lists(evidence, keys, 3, lists);
	users = lists[0];
	ips = lists[1];
	countries = lists[2];
	r = sw_buf_append(buf, "{", 1);
	if (r >= 0)
		r = put_key(buf, "schema", true);
	if (r >= 0)
		r = put_string(buf, SW_ALERT_SCHEMA);
	if (r >= 0)
		r = put_str_member(buf, "id", a->id);
	if (r >= 0)
		r = put_str_member(buf, "rule", a->rule);
	if (r >= 0)
		r = put_str_member(buf, "severity", sw_severity_name(a->severity));
	if (r >= 0)
		r = put_int_member(buf, "severity_id", sw_alert_severity_id(a->severity));
	if (r >= 0)
		r = put_str_member(buf, "tenant", a->tenant);
	if (r >= 0)
		r = put_str_member(buf, "tenant_id", a->tenant_id);
	if (r >= 0)
		r = put_str_member(buf, "subject", a->subject);
	if (r >= 0)
		r = put_str_member(buf, "status", sw_alert_status_name(a->status));
	if (r >= 0)
		r = put_time_member(buf, "first_seen", a->first_seen, false);
	if (r >= 0)
		r = put_time_member(buf, "last_seen", a->last_seen, false);
	if (r >= 0)
		r = put_int_member(buf, "count", a->count);
	if (r >= 0)
		r = put_str_member(buf, "summary", a->summary ? a->summary : "");
	if (r >= 0)
		r = sw_buf_append(buf, ",\"evidence\":", 12);
	if (r >= 0)
		r = evidence != NULL ? sw_buf_append(buf, evidence, strlen(evidence))
		    : tree != NULL ? dump_append(tree, buf) : sw_buf_append(buf, "{}", 2);
	if (r >= 0)
		r = put_str_member(buf, "remediation", a->remediation);
	if (r >= 0)
		r = put_int_member(buf, "transition", a->transition);
	if (r >= 0)
		r = put_time_member(buf, "transition_at", a->transition_at, true);
	if (r >= 0)
		r = a->status == SW_ALERT_RESOLVED ? put_time_member(buf, "resolved_at", a->resolved_at, false)
		                                   : put_str_member(buf, "resolved_at", NULL);
	if (r >= 0)
		r = put_key(buf, "entities", false);
	if (r >= 0)
		r = sw_buf_putc(buf, '{');
	if (r >= 0)
		r = put_key(buf, "mailbox", true);
	if (r >= 0)
		r = mailbox != NULL ? put_string(buf, mailbox) : sw_buf_append(buf, "null", 4);
	if (r >= 0)
		r = put_str_member(buf, "ip", ip);
	if (r >= 0)
		r = put_entity_list(buf, "users", mailbox, tree ? json_object_get(tree, "users") : users);
	if (r >= 0)
		r = put_entity_list(buf, "ips", ip, tree ? json_object_get(tree, "ips") : ips);
	if (r >= 0)
		r = put_entity_list(buf, "countries", NULL, tree ? json_object_get(tree, "countries") : countries);
	if (r >= 0)
		r = sw_buf_putc(buf, '}');
	/* As document_tail(): what jansson dumped, loaded again. */
	if (a->changed_by != NULL)
		changed_by = json_loads(a->changed_by, 0, NULL);
	if (r >= 0 && json_is_object(changed_by)) {
		r = put_key(buf, "changed_by", false);
		if (r >= 0)
			r = dump_append(changed_by, buf);
	}
	if (r >= 0)
		r = put_key(buf, "acked", false);
	if (r >= 0)
		r = a->acked ? sw_buf_append(buf, "true", 4) : sw_buf_append(buf, "false", 5);
	if (r >= 0 && a->acked && a->ack_note != NULL)
		r = put_str_member(buf, "ack_note", a->ack_note);
	if (r >= 0 && a->silenced_until > 0) {
		r = put_key(buf, "silenced", false);
		if (r >= 0)
			r = sw_buf_append(buf, "true", 4);
		if (r >= 0)
			r = put_time_member(buf, "silenced_until", a->silenced_until, false);
	}
	if (r >= 0)
		r = sw_buf_putc(buf, '}');
	if (r < 0 && buf->data != NULL) {
		buf->len = start;
		buf->data[start] = '\0';
	}
	for (size_t i = 0; i < 3; i++)
		json_decref(lists[i]);
	json_decref(changed_by);
	return r < 0 ? -ENOMEM : 0;
}
