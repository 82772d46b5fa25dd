/* render.c: from a stored alert document to the bytes a sink sends:
 * compact JSON for webhooks, an Adaptive Card for Teams, a HEC event for
 * Splunk, an RFC 5424 or syslog(3) line for syslog, journal fields for journald. */
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"

#define RENDER_SD_ID_MAX 32 /* RFC 5424 SD-NAME */
#define RENDER_APP_NAME "smtpwatch"
#define RENDER_HOSTNAME_MAX 255
#define RENDER_MSGID_MAX 32

/* See render.h. */
int sw_render_webhook(const json_t *doc, struct sw_buf *out)
{
	char *s;
	int r;

	if (doc == NULL || out == NULL)
		return -EINVAL;
	s = json_dumps(doc, JSON_COMPACT);
	if (s == NULL)
		return -ENOMEM;
	r = sw_buf_append(out, s, strlen(s));
	free(s);
	return r < 0 ? r : 0;
}

/* See render.h. */
int sw_render_syslog_severity(const char *severity)
{
	static const struct {
		const char *name;
		int level;
	} map[] = {
		{"critical", 2}, /* crit */
		{"high", 3},     /* err */
		{"medium", 4},   /* warning */
		{"low", 5},      /* notice */
		{"info", 6},     /* info */
	};

	if (severity == NULL)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(severity, map[i].name) == 0)
			return map[i].level;
	return -EINVAL;
}

/* Append a header field: PRINTUSASCII only (others become '_'), at most
 * max bytes, NILVALUE "-" when empty. */
static int render_header_field(struct sw_buf *out, const char *s, size_t max)
{
	char field[RENDER_HOSTNAME_MAX];
	size_t n = 0;

	for (; s != NULL && s[n] != '\0' && n < max && n < sizeof(field); n++) {
		unsigned char c = (unsigned char)s[n];
		field[n] = c >= 33 && c <= 126 ? (char)c : '_';
	}
	if (n == 0)
		return sw_buf_append(out, "-", 1);
	return sw_buf_append(out, field, n);
}

/* What render_text escapes with a backslash. */
enum render_esc {
	ESC_NONE,
	ESC_SD, /* an RFC 5424 PARAM-VALUE: '"', '\' and ']' */
	ESC_KV, /* a quoted key="value": '"' and '\' */
};

/* The length of the UTF-8 sequence at p: 1 for ASCII and for any byte
 * that does not start a well-formed sequence (it is then kept alone). */
static size_t render_utf8_len(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 1;

	if (p[0] >= 0xf5)
		return 1;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

/* Append UTF-8 text on one line, at most max bytes of it: CR, LF and
 * every other control byte, and the C1 controls (U+0080..U+009F, which a
 * UTF-8 terminal may act on), become a space; esc says what gets a
 * backslash.  The text is cut before a character (with its escape) that
 * would not fit, never inside one.  *ret_cut (may be NULL) says whether
 * it was. */
static int render_text(struct sw_buf *out, const char *s, enum render_esc esc, size_t max, bool *ret_cut)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t used = 0;
	int r;

	if (ret_cut != NULL)
		*ret_cut = false;
	while (*p != '\0') {
		size_t n = render_utf8_len(p);
		bool c1 = n == 2 && p[0] == 0xc2 && p[1] <= 0x9f;
		bool ctl = p[0] < 0x20 || p[0] == 0x7f || c1;
		bool bs = (esc != ESC_NONE && (p[0] == '"' || p[0] == '\\')) || (esc == ESC_SD && p[0] == ']');
		size_t want = ctl ? 1 : bs ? 2 : n;

		if (used + want > max) {
			if (ret_cut != NULL)
				*ret_cut = true;
			break;
		}
		if (ctl)
			r = sw_buf_append(out, " ", 1);
		else if (bs)
			r = sw_buf_printf(out, "\\%c", p[0]);
		else
			r = sw_buf_append(out, p, n);
		if (r < 0)
			return r;
		used += want;
		p += n;
	}
	return 0;
}

/* The alert's fields in a syslog message, in this order: SD-PARAMs in
 * RFC 5424, key=value after the message in the others. */
struct render_field {
	const char *name; /* the SD-NAME and key */
	const char *member; /* the document's member; evidence_list: entities' or evidence's */
	bool evidence_list;
};

static const struct render_field render_fields[] = {
	{"id", "id", false},
	{"rule", "rule", false},
	{"severity", "severity", false},
	{"tenant", "tenant", false},
	{"subject", "subject", false},
	{"status", "status", false},
	{"count", "count", false},
	{"first_seen", "first_seen", false},
	{"last_seen", "last_seen", false},
	{"src_ip", "ips", true},
	{"country", "countries", true},
};

/* How many bytes s takes once escaped with esc (control bytes count one). */
static size_t render_escaped_len(const char *s, enum render_esc esc)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		n += ((esc != ESC_NONE && (*p == '"' || *p == '\\')) || (esc == ESC_SD && *p == ']')) ? 2 : 1;
	return n;
}

/* Append the value of field f of doc, escaped with esc; *ret_present
 * says whether the document has it at all (nothing is appended if not).
 * Lists (entities.ips, else evidence.ips; the same for countries): the
 * string items joined with ',', whole items only, at most
 * SW_RENDER_SYSLOG_LIST_MAX bytes; others at most
 * SW_RENDER_SYSLOG_VALUE_MAX bytes. */
static int render_field_value(struct sw_buf *out, const json_t *doc, const struct render_field *f,
                              enum render_esc esc, bool *ret_present)
{
	const json_t *v;
	size_t used = 0, i;
	int r;

	*ret_present = false;
	if (f->evidence_list) {
		const json_t *item;

		/* The document's entities (version 2: the evidence's list with
		 * the subject's address in front), else the evidence's. */
		v = json_object_get(json_object_get(doc, "entities"), f->member);
		if (v == NULL || json_is_null(v))
			v = json_object_get(json_object_get(doc, "evidence"), f->member);
		if (json_is_string(v))
			v = json_pack("[O]", v); /* a scalar: one item */
		else if (json_is_array(v) && json_array_size(v) > 0)
			json_incref((json_t *)v);
		else
			return 0;
		if (v == NULL)
			return -ENOMEM;
		r = 0;
		json_array_foreach(v, i, item) {
			const char *t = json_string_value(item);
			size_t n;

			if (t == NULL || *t == '\0')
				continue;
			/* Whole items: one that does not fit ends the list. */
			n = render_escaped_len(t, esc) + (*ret_present ? 1 : 0);
			if (used + n > SW_RENDER_SYSLOG_LIST_MAX)
				break;
			if ((*ret_present && (r = sw_buf_append(out, ",", 1)) < 0) ||
			    (r = render_text(out, t, esc, SW_RENDER_SYSLOG_LIST_MAX, NULL)) < 0)
				break;
			used += n;
			*ret_present = true;
		}
		json_decref((json_t *)v);
		return r < 0 ? r : 0;
	}
	v = json_object_get(doc, f->member);
	if (json_is_string(v)) {
		*ret_present = true;
		return render_text(out, json_string_value(v), esc, SW_RENDER_SYSLOG_VALUE_MAX, NULL);
	}
	if (json_is_integer(v)) {
		*ret_present = true;
		return sw_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	}
	return 0;
}

/* Append ` name="value"` for each field of the document (RFC 5424
 * SD-PARAMs). */
static int render_sd_params(struct sw_buf *out, const json_t *doc)
{
	for (size_t i = 0; i < sizeof(render_fields) / sizeof(render_fields[0]); i++) {
		size_t mark = out->len;
		bool present;
		int r;

		if ((r = sw_buf_printf(out, " %s=\"", render_fields[i].name)) < 0 ||
		    (r = render_field_value(out, doc, &render_fields[i], ESC_SD, &present)) < 0)
			return r;
		if (!present) {
			out->len = mark;
			out->data[mark] = '\0';
		} else if ((r = sw_buf_append(out, "\"", 1)) < 0) {
			return r;
		}
	}
	return 0;
}

/* Does a key=value value need quotes: empty, or a space, '"', '\', '='
 * or a control byte (which becomes a space) in it? */
static bool render_kv_needs_quotes(const char *s, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c == 0x7f)
			return true;
	}
	return false;
}

/* Append ` key=value` for each field of the document, quoted where
 * needed, for the syslog(3) and RFC 3164 forms. */
static int render_kv_params(struct sw_buf *out, const json_t *doc)
{
	struct sw_buf raw = {0}, val = {0};
	int r = 0;

	for (size_t i = 0; i < sizeof(render_fields) / sizeof(render_fields[0]); i++) {
		bool present;

		/* Unescaped first (control bytes already spaces), to see whether
		 * it needs quotes; then escaped for inside them. */
		raw.len = val.len = 0;
		if ((r = render_field_value(&raw, doc, &render_fields[i], ESC_NONE, &present)) < 0)
			break;
		if (!present)
			continue;
		if (!render_kv_needs_quotes(raw.data, raw.len)) {
			r = sw_buf_printf(out, " %s=%s", render_fields[i].name, raw.data);
		} else if ((r = render_field_value(&val, doc, &render_fields[i], ESC_KV, &present)) >= 0) {
			r = sw_buf_printf(out, " %s=\"%s\"", render_fields[i].name, val.data ? val.data : "");
		}
		if (r < 0)
			break;
	}
	sw_buf_clear(&raw);
	sw_buf_clear(&val);
	return r < 0 ? r : 0;
}

/* Does s hold a byte outside US-ASCII? */
static bool render_has_non_ascii(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Append "[STATUS] SUMMARY" in at most max bytes (the status is short
 * and always whole; the summary is cut to fit). */
static int render_msg(struct sw_buf *out, const char *status, const char *summary, size_t max)
{
	size_t mark = out->len;
	int r;

	if ((r = sw_buf_append(out, "[", 1)) < 0 ||
	    (r = render_text(out, status ? status : "-", ESC_NONE, SW_RENDER_SYSLOG_VALUE_MAX, NULL)) < 0 ||
	    (r = sw_buf_append(out, "]", 1)) < 0)
		return r;
	if (summary != NULL && *summary != '\0' && out->len - mark + 1 < max)
		if ((r = sw_buf_append(out, " ", 1)) < 0 ||
		    (r = render_text(out, summary, ESC_NONE, max - (out->len - mark), NULL)) < 0)
			return r;
	return 0;
}

/* The RFC 3164 / syslog(3) timestamp "Mmm dd hh:mm:ss" of t in local
 * time, the month in English whatever the locale. */
static void render_3164_time(int64_t t, char *buf, size_t n)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(buf, n, "%s %2d %02d:%02d:%02d", months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
}

/* See render.h.  The RFC 5424 frame is
 *   <PRI>1 TIMESTAMP HOSTNAME smtpwatch - MSGID [SD] [BOM]MSG
 * PROCID is the NILVALUE: the daemon's pid tells a receiver nothing about
 * an alert.  MSG is UTF-8; RFC 5424 (6.4) wants the BOM in front of UTF-8
 * text, so it is there exactly when the text is not plain ASCII (which is
 * valid MSG-ANY as it stands).
 *
 * The local and RFC 3164 forms are
 *   <PRI>Mmm dd hh:mm:ss [HOSTNAME ]smtpwatch[PID]: MSG key=value...
 * with the fields after the message: journald keeps them in MESSAGE and
 * takes SYSLOG_IDENTIFIER and SYSLOG_PID from the tag.
 *
 * The fields are rendered first and the summary gets what is left of
 * SW_RENDER_SYSLOG_MAX: with every value capped (render.h), header and
 * fields take at most about 6.7 KiB, so they always arrive whole. */
int sw_render_syslog(const json_t *doc, const struct sw_render_syslog_opts *o, int64_t now, struct sw_buf *out)
{
	struct sw_buf kv = {0};
	const char *rule, *status, *summary;
	char ts[64];
	size_t mark, used;
	int sev, r;

	if (!json_is_object(doc) || o == NULL || out == NULL || o->facility < 0 || o->facility > 23 ||
	    (o->form != SW_RENDER_SYSLOG_5424 && o->form != SW_RENDER_SYSLOG_LOCAL && o->form != SW_RENDER_SYSLOG_3164))
		return -EINVAL;
	sev = sw_render_syslog_severity(json_string_value(json_object_get(doc, "severity")));
	if (sev < 0)
		return sev;
	rule = json_string_value(json_object_get(doc, "rule"));
	status = json_string_value(json_object_get(doc, "status"));
	summary = json_string_value(json_object_get(doc, "summary"));

	/* On failure leave out as it was: no half line is ever sent. */
	mark = out->len;
	if (o->form == SW_RENDER_SYSLOG_5424) {
		const char *sd_id = o->sd_id != NULL && *o->sd_id != '\0' ? o->sd_id : SW_SYSLOG_SD_ID_DEFAULT;
		bool bom = render_has_non_ascii(status) || render_has_non_ascii(summary);

		sw_time_format(now, ts, sizeof(ts));
		if ((r = sw_buf_printf(out, "<%d>1 %s ", o->facility * 8 + sev, ts)) < 0 ||
		    (r = render_header_field(out, o->hostname, RENDER_HOSTNAME_MAX)) < 0 ||
		    (r = sw_buf_append(out, " " RENDER_APP_NAME " - ", strlen(" " RENDER_APP_NAME " - "))) < 0 ||
		    (r = render_header_field(out, rule, RENDER_MSGID_MAX)) < 0 ||
		    (r = sw_buf_append(out, " [", 2)) < 0 ||
		    (r = render_header_field(out, sd_id, RENDER_SD_ID_MAX)) < 0 ||
		    (r = render_sd_params(out, doc)) < 0 || (r = sw_buf_append(out, "] ", 2)) < 0)
			goto fail;
		if (bom && (r = sw_buf_append(out, "\xEF\xBB\xBF", 3)) < 0)
			goto fail;
		used = out->len - mark;
		if ((r = render_msg(out, status, summary, used < SW_RENDER_SYSLOG_MAX ? SW_RENDER_SYSLOG_MAX - used : 0)) < 0)
			goto fail;
	} else {
		render_3164_time(now, ts, sizeof(ts));
		if ((r = sw_buf_printf(out, "<%d>%s ", o->facility * 8 + sev, ts)) < 0)
			goto fail;
		if (o->form == SW_RENDER_SYSLOG_3164 &&
		    ((r = render_header_field(out, o->hostname, RENDER_HOSTNAME_MAX)) < 0 ||
		     (r = sw_buf_append(out, " ", 1)) < 0))
			goto fail;
		if ((r = sw_buf_printf(out, RENDER_APP_NAME "[%ld]: ", o->pid)) < 0 || (r = render_kv_params(&kv, doc)) < 0)
			goto fail;
		used = out->len - mark + kv.len;
		if ((r = render_msg(out, status, summary, used < SW_RENDER_SYSLOG_MAX ? SW_RENDER_SYSLOG_MAX - used : 0)) < 0 ||
		    (kv.len > 0 && (r = sw_buf_append(out, kv.data, kv.len)) < 0))
			goto fail;
	}
	sw_buf_clear(&kv);
	return 0;
fail:
	sw_buf_clear(&kv);
	out->len = mark;
	if (out->data != NULL)
		out->data[mark] = '\0';
	return r;
}

/* ---- Teams ---- */

/* Severity to the Adaptive Card container style and text colour. */
static const struct {
	const char *severity;
	const char *style;
	const char *color;
} teams_colours[] = {
	{"critical", "attention", "Attention"},
	{"high", "attention", "Attention"},
	{"medium", "warning", "Warning"},
	{"low", "accent", "Accent"},
	{"info", "emphasis", "Default"},
};

/* Readable titles for the evidence keys the rules write. */
static const struct {
	const char *key;
	const char *title;
} teams_evidence_titles[] = {
	{"ips", "IP addresses"},
	{"countries", "Countries"},
	{"signin_ids", "Sign-in IDs"},
	{"users", "Users"},
	{"alert_ids", "Alert IDs"},
};

/* A member of doc as text: strings as they are, numbers as JSON, "-" for
 * null or absent.  *tmp is the caller's to free. */
static const char *teams_text(const json_t *doc, const char *name, char **tmp)
{
	const json_t *v = json_object_get(doc, name);

	*tmp = NULL;
	if (json_is_string(v))
		return json_string_value(v);
	if (v == NULL || json_is_null(v))
		return "-";
	*tmp = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return *tmp ? *tmp : "-";
}

/* s as markdown-safe text (sw_escape_markdown), malloc'd; NULL on OOM.
 * Card texts and fact values are markdown in Teams: a user or mailbox
 * name must not become a link, an image or emphasis there. */
static char *teams_md(const char *s)
{
	struct sw_buf b = {0};

	if (sw_escape_markdown(&b, s ? s : "") < 0) {
		sw_buf_clear(&b);
		return NULL;
	}
	return b.data;
}

/* Append {"title":title,"value":value} to facts, both made
 * markdown-safe; 0 or -ENOMEM. */
static int teams_fact(json_t *facts, const char *title, const char *value)
{
	char *t = teams_md(title), *v = teams_md(value);
	json_t *f = t && v ? json_pack("{s:s,s:s}", "title", t, "value", v) : NULL;

	free(t);
	free(v);
	if (f == NULL || json_array_append_new(facts, f) < 0)
		return -ENOMEM;
	return 0;
}

/* An evidence value on one line: list items joined with ", ", at most
 * SW_RENDER_TEAMS_LIST of them, then "and N more". */
static int teams_evidence_value(const json_t *v, struct sw_buf *b)
{
	const json_t *item;
	size_t i;
	char *s;
	int r = 0;

	if (!json_is_array(v)) {
		if (json_is_string(v))
			return sw_buf_printf(b, "%s", json_string_value(v));
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s == NULL)
			return -ENOMEM;
		r = sw_buf_printf(b, "%s", s);
		free(s);
		return r;
	}
	if (json_array_size(v) == 0)
		return sw_buf_printf(b, "-");
	json_array_foreach(v, i, item) {
		if (i == SW_RENDER_TEAMS_LIST)
			return sw_buf_printf(b, " and %zu more", json_array_size(v) - i);
		if (i > 0 && (r = sw_buf_append(b, ", ", 2)) < 0)
			return r;
		if ((r = teams_evidence_value(item, b)) < 0)
			return r;
	}
	return 0;
}

/* The evidence object as a FactSet; NULL facts (and 0) when empty. */
static int teams_evidence(const json_t *evidence, json_t **ret)
{
	struct sw_buf b = {0};
	const char *key;
	json_t *v, *facts = NULL;
	int r = 0;

	*ret = NULL;
	if (!json_is_object(evidence) || json_object_size(evidence) == 0)
		return 0;
	facts = json_array();
	if (facts == NULL)
		return -ENOMEM;
	json_object_foreach((json_t *)evidence, key, v) {
		char title[64];

		snprintf(title, sizeof(title), "%s", key);
		for (size_t i = 0; i < sizeof(teams_evidence_titles) / sizeof(teams_evidence_titles[0]); i++)
			if (strcmp(key, teams_evidence_titles[i].key) == 0)
				snprintf(title, sizeof(title), "%s", teams_evidence_titles[i].title);
		for (char *p = title; *p; p++)
			if (*p == '_')
				*p = ' ';
		b.len = 0;
		if ((r = sw_buf_append(&b, "", 0)) < 0 || (r = teams_evidence_value(v, &b)) < 0 ||
		    (r = teams_fact(facts, title, b.data)) < 0)
			goto out;
	}
	*ret = json_pack("{s:s,s:o}", "type", "FactSet", "facts", facts);
	facts = NULL;
	if (*ret == NULL)
		r = -ENOMEM;
out:
	json_decref(facts);
	sw_buf_clear(&b);
	return r;
}

/* The Adaptive Card (new reference) for a checked document. */
static json_t *teams_card(const json_t *doc, int colour, bool resolved)
{
	const char *severity = json_string_value(json_object_get(doc, "severity"));
	const char *raw_summary = json_string_value(json_object_get(doc, "summary"));
	const char *style = resolved ? "good" : teams_colours[colour].style;
	const char *color = resolved ? "Good" : teams_colours[colour].color;
	char title[256], line[512], fallback[768], upper[16], *tmp[8] = {0};
	json_t *card = NULL, *body, *facts = NULL, *evidence = NULL;
	size_t i;
	/* Every text of the card is markdown. */
	char *rule = teams_md(json_string_value(json_object_get(doc, "rule")));
	char *tenant = json_is_string(json_object_get(doc, "tenant"))
	                       ? teams_md(json_string_value(json_object_get(doc, "tenant")))
	                       : NULL;
	char *summary = raw_summary ? teams_md(raw_summary) : NULL;
	char *remediation = json_is_string(json_object_get(doc, "remediation"))
	                            ? teams_md(json_string_value(json_object_get(doc, "remediation")))
	                            : NULL;

	if (rule == NULL || (raw_summary != NULL && summary == NULL))
		goto out;

	for (i = 0; severity[i] != '\0' && i < sizeof(upper) - 1; i++)
		upper[i] = (char)(severity[i] >= 'a' && severity[i] <= 'z' ? severity[i] - 32 : severity[i]);
	upper[i] = '\0';
	if (resolved) {
		snprintf(title, sizeof(title), "RESOLVED: %s", rule);
		snprintf(line, sizeof(line), "%s alert in tenant %s has cleared", severity, tenant ? tenant : "-");
	} else {
		snprintf(title, sizeof(title), "%s: %s", upper, rule);
		snprintf(line, sizeof(line), "Firing in tenant %s", tenant ? tenant : "-");
	}
	/* Some clients show the fallback as markdown too. */
	snprintf(fallback, sizeof(fallback), "%s: %s", title, summary && *summary ? summary : "");

	facts = json_array();
	if (facts == NULL ||
	    teams_fact(facts, "Tenant", teams_text(doc, "tenant", &tmp[0])) < 0 ||
	    teams_fact(facts, "Subject", teams_text(doc, "subject", &tmp[1])) < 0 ||
	    teams_fact(facts, "Severity", severity) < 0 ||
	    teams_fact(facts, "Status", teams_text(doc, "status", &tmp[2])) < 0 ||
	    teams_fact(facts, "Count", teams_text(doc, "count", &tmp[3])) < 0 ||
	    teams_fact(facts, "First seen", teams_text(doc, "first_seen", &tmp[4])) < 0 ||
	    teams_fact(facts, "Last seen", teams_text(doc, "last_seen", &tmp[5])) < 0 ||
	    (resolved && teams_fact(facts, "Resolved at", teams_text(doc, "resolved_at", &tmp[6])) < 0) ||
	    teams_fact(facts, "Alert", teams_text(doc, "id", &tmp[7])) < 0)
		goto out;
	if (teams_evidence(json_object_get(doc, "evidence"), &evidence) < 0)
		goto out;

	body = json_pack("[{s:s,s:s,s:b,s:[{s:s,s:s,s:s,s:s,s:s,s:b},{s:s,s:s,s:s,s:b,s:b}]},"
	                 "{s:s,s:s,s:b},{s:s,s:o}]",
	                 "type", "Container", "style", style, "bleed", 1, "items",
	                 "type", "TextBlock", "text", title, "weight", "Bolder", "size", "Medium", "color", color,
	                 "wrap", 1,
	                 "type", "TextBlock", "text", line, "spacing", "None", "isSubtle", 1, "wrap", 1,
	                 "type", "TextBlock", "text", summary && *summary ? summary : "-", "wrap", 1,
	                 "type", "FactSet", "facts", facts);
	facts = NULL;
	if (body == NULL)
		goto out;
	if (evidence != NULL) {
		/* json_array_append_new takes the value even when it fails. */
		int r1 = json_array_append_new(body, json_pack("{s:s,s:s,s:s,s:b}", "type", "TextBlock", "text",
		                                               "Evidence", "weight", "Bolder", "separator", 1));
		int r2 = json_array_append_new(body, evidence);

		evidence = NULL;
		if (r1 < 0 || r2 < 0)
			goto fail_body;
	}
	/* The advice is for a live condition; a resolved card does not repeat it. */
	if (!resolved && remediation != NULL && *remediation != '\0') {
		if (json_array_append_new(body, json_pack("{s:s,s:s,s:s,s:b}", "type", "TextBlock", "text",
		                                          "Remediation", "weight", "Bolder", "separator", 1)) < 0 ||
		    json_array_append_new(body, json_pack("{s:s,s:s,s:[{s:s,s:s,s:s,s:b}]}", "type", "Container",
		                                          "style", "emphasis", "items", "type", "TextBlock", "text",
		                                          remediation, "fontType", "Monospace", "wrap", 1)) < 0)
			goto fail_body;
	}
	card = json_pack("{s:s,s:s,s:s,s:s,s:{s:s},s:o}", "type", "AdaptiveCard", "$schema",
	                 "http://adaptivecards.io/schemas/adaptive-card.json", "version", "1.4", "fallbackText",
	                 fallback, "msteams", "width", "Full", "body", body);
	goto out;
fail_body:
	json_decref(body);
out:
	json_decref(facts);
	json_decref(evidence);
	for (i = 0; i < sizeof(tmp) / sizeof(tmp[0]); i++)
		free(tmp[i]);
	free(rule);
	free(tenant);
	free(summary);
	free(remediation);
	return card;
}

/* Index into teams_colours of an alert severity name, -1 if unknown. */
static int teams_colour(const char *severity)
{
	for (size_t i = 0; severity != NULL && i < sizeof(teams_colours) / sizeof(teams_colours[0]); i++)
		if (strcmp(severity, teams_colours[i].severity) == 0)
			return (int)i;
	return -1;
}

/* See render.h. */
int sw_render_teams(const json_t *doc, struct sw_buf *out)
{
	const char *status;
	json_t *card, *msg;
	int colour, r;

	if (!json_is_object(doc) || out == NULL || !json_is_string(json_object_get(doc, "rule")))
		return -EINVAL;
	colour = teams_colour(json_string_value(json_object_get(doc, "severity")));
	if (colour < 0)
		return -EINVAL;
	status = json_string_value(json_object_get(doc, "status"));
	card = teams_card(doc, colour, status != NULL && strcmp(status, "resolved") == 0);
	if (card == NULL)
		return -ENOMEM;
	msg = json_pack("{s:s,s:[{s:s,s:n,s:o}]}", "type", "message", "attachments", "contentType",
	                "application/vnd.microsoft.card.adaptive", "contentUrl", "content", card);
	if (msg == NULL)
		return -ENOMEM;
	r = sw_render_webhook(msg, out);
	json_decref(msg);
	return r;
}

/* One row of the digest table: a ColumnSet of TextBlocks, the
 * columns' widths fixed so that the rows line up (Adaptive Cards 1.4 has
 * no Table element). */
static json_t *teams_row(const char *const *cells, size_t n, bool header)
{
	static const char *const widths[] = {"stretch", "auto", "auto", "auto"};
	json_t *cols = json_array(), *set;

	if (cols == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char *t = teams_md(cells[i]);
		json_t *col = t ? json_pack("{s:s,s:s,s:[{s:s,s:s,s:s,s:b}]}", "type", "Column", "width", widths[i % 4],
		                            "items", "type", "TextBlock", "text", t, "weight",
		                            header ? "Bolder" : "Default", "wrap", 1)
		                : NULL;

		free(t);
		if (col == NULL || json_array_append_new(cols, col) < 0) {
			json_decref(cols);
			return NULL;
		}
	}
	set = json_pack("{s:s,s:o,s:s}", "type", "ColumnSet", "columns", cols, "spacing", header ? "Medium" : "Small");
	return set;
}

/* See render.h. */
int sw_render_teams_digest(const json_t *doc, struct sw_buf *out)
{
	static const char *const head[] = {"Subject", "Severity", "Count", "Last seen"};
	const char *rule = json_string_value(json_object_get(doc, "rule"));
	const char *severity = json_string_value(json_object_get(doc, "severity"));
	const char *tenant = json_string_value(json_object_get(doc, "tenant"));
	const json_t *alerts = json_object_get(doc, "alerts"), *a;
	json_int_t count = json_integer_value(json_object_get(doc, "count"));
	char title[320], line[320], more[64], fallback[400], *tmp[3];
	json_t *body = NULL, *card, *msg;
	size_t i, shown = 0;
	int colour = teams_colour(severity), r = -ENOMEM;

	if (!json_is_object(doc) || out == NULL || rule == NULL || colour < 0 || !json_is_array(alerts))
		return -EINVAL;
	snprintf(title, sizeof(title), "%lld alerts: %s", (long long)count, rule);
	snprintf(line, sizeof(line), "Firing in tenant %s, shown as one digest", tenant ? tenant : "-");
	snprintf(fallback, sizeof(fallback), "%s in tenant %s", title, tenant ? tenant : "-");
	{
		char *mt = teams_md(title), *ml = teams_md(line), *mf = teams_md(fallback);

		if (mt && ml && mf)
			body = json_pack("[{s:s,s:s,s:b,s:[{s:s,s:s,s:s,s:s,s:s,s:b},{s:s,s:s,s:s,s:b,s:b}]}]",
			                 "type", "Container", "style", teams_colours[colour].style, "bleed", 1, "items",
			                 "type", "TextBlock", "text", mt, "weight", "Bolder", "size", "Medium", "color",
			                 teams_colours[colour].color, "wrap", 1,
			                 "type", "TextBlock", "text", ml, "spacing", "None", "isSubtle", 1, "wrap", 1);
		free(mt);
		free(ml);
		snprintf(fallback, sizeof(fallback), "%s", mf ? mf : "");
		free(mf);
	}
	if (body == NULL || json_array_append_new(body, teams_row(head, 4, true)) < 0)
		goto out;
	json_array_foreach(alerts, i, a) {
		const char *cells[4];

		if (shown == SW_RENDER_TEAMS_DIGEST_ROWS)
			break;
		cells[0] = teams_text(a, "subject", &tmp[0]);
		cells[1] = teams_text(a, "severity", &tmp[1]);
		cells[2] = teams_text(a, "count", &tmp[2]);
		cells[3] = json_is_string(json_object_get(a, "last_seen")) ? json_string_value(json_object_get(a, "last_seen"))
		                                                           : "-";
		r = json_array_append_new(body, teams_row(cells, 4, false));
		for (int k = 0; k < 3; k++)
			free(tmp[k]);
		if (r < 0) {
			r = -ENOMEM;
			goto out;
		}
		shown++;
	}
	if ((json_int_t)shown < count) {
		snprintf(more, sizeof(more), "and %lld more", (long long)(count - (json_int_t)shown));
		if (json_array_append_new(body, json_pack("{s:s,s:s,s:b,s:b}", "type", "TextBlock", "text", more,
		                                          "isSubtle", 1, "wrap", 1)) < 0)
			goto out;
	}
	card = json_pack("{s:s,s:s,s:s,s:s,s:{s:s},s:O}", "type", "AdaptiveCard", "$schema",
	                 "http://adaptivecards.io/schemas/adaptive-card.json", "version", "1.4", "fallbackText",
	                 fallback, "msteams", "width", "Full", "body", body);
	if (card == NULL)
		goto out;
	msg = json_pack("{s:s,s:[{s:s,s:n,s:o}]}", "type", "message", "attachments", "contentType",
	                "application/vnd.microsoft.card.adaptive", "contentUrl", "content", card);
	if (msg == NULL)
		goto out;
	r = sw_render_webhook(msg, out);
	json_decref(msg);
out:
	json_decref(body);
	return r;
}

/* ---- Splunk HEC ---- */

/* Append ,"name":VALUE with value as a JSON string; nothing when NULL. */
static int hec_member(struct sw_buf *out, const char *name, const char *value)
{
	json_t *j;
	char *v;
	int r;

	if (value == NULL || *value == '\0')
		return 0;
	j = json_string(value);
	v = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	if (v == NULL)
		return -ENOMEM;
	r = sw_buf_printf(out, "\"%s\":%s,", name, v);
	free(v);
	return r;
}

/* See render.h.  Written by hand rather than through jansson so that
 * "time" keeps its three decimals and the members their order. */
int sw_render_hec_event(const json_t *doc, const char *host, int64_t time_ms, const struct sw_hec_meta *meta,
                        struct sw_buf *out)
{
	size_t mark;
	int r;

	if (!json_is_object(doc) || out == NULL || time_ms < 0)
		return -EINVAL;
	mark = out->len;
	if ((r = sw_buf_printf(out, "{\"time\":%" PRId64 ".%03d,", time_ms / 1000, (int)(time_ms % 1000))) < 0 ||
	    (r = hec_member(out, "host", host)) < 0 ||
	    (r = hec_member(out, "source", meta && meta->source ? meta->source : "smtpwatch")) < 0 ||
	    (r = hec_member(out, "sourcetype", meta && meta->sourcetype ? meta->sourcetype : "smtpwatch:alert")) < 0 ||
	    (r = hec_member(out, "index", meta ? meta->index : NULL)) < 0 ||
	    (r = sw_buf_append(out, "\"event\":", 8)) < 0 || (r = sw_render_webhook(doc, out)) < 0 ||
	    (r = sw_buf_append(out, "}", 1)) < 0) {
		out->len = mark;
		if (out->data != NULL)
			out->data[mark] = '\0';
	}
	return r < 0 ? r : 0;
}

/* See render.h. */
int sw_render_hec(const json_t *doc, const char *host, int64_t time_ms, struct sw_buf *out)
{
	return sw_render_hec_event(doc, host, time_ms, NULL, out);
}

/* See render.h.  HEC's codes: 0 success, 1 token disabled, 2 token is
 * required, 3 invalid authorization, 4 invalid token, 5 no data, 6 invalid
 * data format, 7 incorrect index, 8 internal error, 9 server is busy,
 * 10/11 data channel missing/invalid, 12/13 event field required/blank,
 * 14 ACK disabled, 15 indexed fields, 16 query string authorization,
 * 17 healthy, 18-20 unhealthy (queues full, ack unavailable). */
void sw_render_hec_result(long status, const char *body, size_t len, struct sw_hec_result *ret)
{
	json_t *j = body != NULL && len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	const char *text = json_string_value(json_object_get(j, "text"));
	json_t *code = json_object_get(j, "code");
	size_t n = 0;

	ret->code = json_is_integer(code) ? (int)json_integer_value(code) : -1;
	for (; text != NULL && text[n] != '\0' && n < sizeof(ret->text) - 1; n++)
		ret->text[n] = text[n] >= 32 && text[n] <= 126 ? text[n] : '?';
	ret->text[n] = '\0';
	json_decref(j);

	if (status >= 200 && status <= 299 && (ret->code <= 0 || ret->code == 17))
		ret->outcome = SW_HEC_OK;
	else if ((ret->code >= 1 && ret->code <= 4) || (ret->code < 0 && (status == 401 || status == 403)))
		ret->outcome = SW_HEC_TOKEN;
	else if (ret->code == 8 || ret->code == 9 || (ret->code >= 18 && ret->code <= 20) || status == 0 ||
	         status == 429 || status >= 500)
		ret->outcome = SW_HEC_RETRY;
	else if (ret->code == 5 || ret->code == 6 || ret->code == 12 || ret->code == 13 || ret->code == 15)
		ret->outcome = SW_HEC_REJECTED;
	else if (ret->code >= 0 || (status >= 400 && status <= 499))
		ret->outcome = SW_HEC_CONFIG;
	else
		ret->outcome = SW_HEC_RETRY; /* 1xx, 3xx: a proxy in the way, maybe */
}

/* ---- journald ---- */

/* One MESSAGE_ID per rule, never to change: they key the catalog
 * (systemd/smtpwatch.catalog) and every saved journalctl filter. */
static const struct {
	const char *rule;
	const char *id;
} journal_ids[] = {
	{"tenant-smtp-auth-enabled", "5e8d71881c8d44949711f726fb2b18bf"},
	{"unapproved-mailbox-exception", "f4a30936815747be99991edc412f84bf"},
	{"unapproved-basic-auth-submission", "4c96a5be3a8e42d5ae32a7a9ba04a554"},
	{"exception-source-drift", "0e99c62647ca42d5b9e17e02c5c468f8"},
	{"exception-expired", "fa3b8a008a3846f894f7cb0ef194744d"},
	{"smtp-auth-password-spray", "f5e056d0475247f0adc97e217e514210"},
	{"smtp-auth-brute-force", "37d6c3626f414a23bd643ba7bc29a0d2"},
	{"exception-volume-spike", "c4e6c41b0a734693aac6b304a92a2fb8"},
	{"source-unhealthy", "a776929f59264bcbb3be4bc01d59333d"},
	{"credential-expiring", "37c3af4bfce0465d8c96c43f1190ca15"},
	{"exception-expiring", "600151aac44d4a56aa5e2a61907c82ab"},
	{"exception-unused", "75386ec186a5498b912e8b3ebbfece2b"},
	{"legacy-tls-submission", "297e58761d704ddea5c2f4e36213e834"},
	{"exception-register-stale", "10595761b0654c3f9d9803e2fe5d032b"},
	{"coverage-gap", "f6535dc31b7548dbb93fac5b94e9934c"},
	{"basic-sender-stopped", "8e75fbec3f404c5db026dac162b76e5a"},
	{"legacy-auth-not-blocked", "271fd05fa1a04a51847b1a74ed14502d"},
	{"smtp-auth-setting-changed", "ebbd27f9bde84b3f8db2678852b72a79"},
	{SW_RULE_DELIVERY_DEAD, "d4130fb9914f4e4d81c48da7e2f1726e"},
	{SW_RULE_SILENCE_CHANGED, "0970348c26f34648a9cffb7f2818577b"},
};

#define JOURNAL_NAME_MAX 64

/* See render.h. */
const char *sw_render_journal_message_id(const char *rule)
{
	for (size_t i = 0; rule != NULL && i < sizeof(journal_ids) / sizeof(journal_ids[0]); i++)
		if (strcmp(rule, journal_ids[i].rule) == 0)
			return journal_ids[i].id;
	return NULL;
}

struct journal_list {
	char **v;
	size_t n, cap;
};

/* Append a malloc'd field (taking it); -ENOMEM frees it. */
static int journal_take(struct journal_list *l, char *field)
{
	if (field == NULL)
		return -ENOMEM;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL) {
			free(field);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = field;
	return 0;
}

/* Append "PREFIXNAME=value", NAME made a valid journal field name. */
static int journal_add(struct journal_list *l, const char *prefix, const char *name, const char *value)
{
	char key[JOURNAL_NAME_MAX + 1];
	size_t n = 0;
	char *f;

	for (; *prefix && n < JOURNAL_NAME_MAX; prefix++)
		key[n++] = *prefix;
	for (; *name && n < JOURNAL_NAME_MAX; name++) {
		char c = *name;

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		key[n++] = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
	}
	key[n] = '\0';
	/* One line each, escaped as the daemon's log is: a field shown by
	 * journalctl must not carry a terminal sequence or a forged line. */
	if (sw_text_needs_escape(value, strlen(value), 0)) {
		struct sw_buf b = {0};
		int r = sw_buf_printf(&b, "%s=", key);

		if (r >= 0)
			r = sw_escape_text(&b, value, strlen(value), 0);
		if (r < 0) {
			sw_buf_clear(&b);
			return -ENOMEM;
		}
		return journal_take(l, b.data);
	}
	if (asprintf(&f, "%s=%s", key, value) < 0)
		return -ENOMEM;
	return journal_take(l, f);
}

/* Append PREFIXNAME=value for one JSON value (null: nothing). */
static int journal_add_json(struct journal_list *l, const char *prefix, const char *name, const json_t *v)
{
	char *s;
	int r;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return journal_add(l, prefix, name, json_string_value(v));
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		return -ENOMEM;
	r = journal_add(l, prefix, name, s);
	free(s);
	return r;
}

/* See render.h. */
void sw_render_journal_free(char **fields, size_t n)
{
	for (size_t i = 0; fields != NULL && i < n; i++)
		free(fields[i]);
	free(fields);
}

/* The members whose own members become fields of their own, one per
 * list item: what `journalctl FIELD=value` looks for. */
static const struct {
	const char *member;
	const char *prefix;
} journal_lists[] = {
	{"evidence", "SMTPWATCH_EVIDENCE_"},
	{"entities", "SMTPWATCH_ENTITIES_"},
};

/* See render.h. */
int sw_render_journal(const json_t *doc, char ***ret_fields, size_t *ret_n)
{
	struct journal_list l = {0};
	const char *rule, *status, *tenant, *summary, *subject, *id, *key;
	const json_t *v, *item;
	char *msg = NULL, prio[12];
	size_t i;
	int sev, r;

	if (!json_is_object(doc) || ret_fields == NULL || ret_n == NULL)
		return -EINVAL;
	rule = json_string_value(json_object_get(doc, "rule"));
	sev = sw_render_syslog_severity(json_string_value(json_object_get(doc, "severity")));
	if (rule == NULL || sev < 0)
		return -EINVAL;
	status = json_string_value(json_object_get(doc, "status"));
	tenant = json_string_value(json_object_get(doc, "tenant"));
	subject = json_string_value(json_object_get(doc, "subject"));
	summary = json_string_value(json_object_get(doc, "summary"));
	if (summary != NULL && *summary != '\0')
		r = asprintf(&msg, "MESSAGE=[%s] %s: %s", status ? status : "-", tenant ? tenant : "-", summary);
	else
		r = asprintf(&msg, "MESSAGE=[%s] %s: %s %s", status ? status : "-", tenant ? tenant : "-", rule,
		             subject ? subject : "-");
	if (r < 0) {
		r = -ENOMEM;
		goto fail;
	}
	r = journal_add(&l, "MESSAGE", "", msg + strlen("MESSAGE="));
	free(msg);
	if (r < 0)
		goto fail;
	id = sw_render_journal_message_id(rule);
	snprintf(prio, sizeof(prio), "%d", sev);
	if ((id != NULL && (r = journal_add(&l, "MESSAGE_ID", "", id)) < 0) ||
	    (r = journal_add(&l, "PRIORITY", "", prio)) < 0 ||
	    (r = journal_add(&l, "SYSLOG_IDENTIFIER", "", "smtpwatch")) < 0)
		goto fail;
	json_object_foreach((json_t *)doc, key, v) {
		if ((r = journal_add_json(&l, "SMTPWATCH_", key, v)) < 0)
			goto fail;
	}
	for (size_t k = 0; k < sizeof(journal_lists) / sizeof(journal_lists[0]); k++) {
		const json_t *obj = json_object_get(doc, journal_lists[k].member);

		if (!json_is_object(obj))
			continue;
		json_object_foreach((json_t *)obj, key, v) {
			if (!json_is_array(v)) {
				if ((r = journal_add_json(&l, journal_lists[k].prefix, key, v)) < 0)
					goto fail;
				continue;
			}
			json_array_foreach(v, i, item) {
				if ((r = journal_add_json(&l, journal_lists[k].prefix, key, item)) < 0)
					goto fail;
			}
		}
	}
	*ret_fields = l.v;
	*ret_n = l.n;
	return 0;
fail:
	sw_render_journal_free(l.v, l.n);
	return r < 0 ? r : -ENOMEM;
}
