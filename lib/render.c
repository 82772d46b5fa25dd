/* render.c: from a stored alert document to the bytes a sink sends:
 * compact JSON for webhooks, an RFC 5424 line for syslog. */
#include "render.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Our private enterprise number in the SD-ID, as the alert's structured
 * data element is named in every message. */
#define RENDER_SD_ID "smtpwatch@32473"
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

/* Append UTF-8 text on one line: CR, LF and every other control byte
 * become a space.  With sd, also escape '"', '\' and ']' as RFC 5424
 * requires inside a PARAM-VALUE. */
static int render_text(struct sw_buf *out, const char *s, bool sd)
{
	const char *run = s;
	int r = 0;

	for (const char *p = s;; p++) {
		unsigned char c = (unsigned char)*p;
		bool ctl = c != '\0' && (c < 0x20 || c == 0x7f);
		bool esc = sd && (c == '"' || c == '\\' || c == ']');

		if (c != '\0' && !ctl && !esc)
			continue;
		if (p > run && (r = sw_buf_append(out, run, (size_t)(p - run))) < 0)
			return r;
		if (c == '\0')
			break;
		if (ctl)
			r = sw_buf_append(out, " ", 1);
		else
			r = sw_buf_printf(out, "\\%c", c);
		if (r < 0)
			return r;
		run = p + 1;
	}
	return 0;
}

/* Append ` name="value"` for a string or integer member of doc; nothing
 * when the member is absent or null. */
static int render_sd_param(struct sw_buf *out, const json_t *doc, const char *name)
{
	const json_t *v = json_object_get(doc, name);
	int r;

	if (json_is_string(v)) {
		if ((r = sw_buf_printf(out, " %s=\"", name)) < 0 || (r = render_text(out, json_string_value(v), true)) < 0)
			return r;
		return sw_buf_append(out, "\"", 1);
	}
	if (json_is_integer(v))
		return sw_buf_printf(out, " %s=\"%" JSON_INTEGER_FORMAT "\"", name, json_integer_value(v));
	return 0;
}

/* Does s hold a byte outside US-ASCII? */
static bool render_has_non_ascii(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* See render.h.  The frame is
 *   <PRI>1 TIMESTAMP HOSTNAME smtpwatch - MSGID [SD] [BOM]MSG
 * PROCID is the NILVALUE: the daemon's pid tells a receiver nothing about
 * an alert.  MSG is UTF-8; RFC 5424 (6.4) wants the BOM in front of UTF-8
 * text, so it is there exactly when the text is not plain ASCII (which is
 * valid MSG-ANY as it stands). */
int sw_render_syslog(const json_t *doc, int facility, const char *hostname, int64_t now, struct sw_buf *out)
{
	static const char *const params[] = {"id", "rule", "severity", "tenant", "subject", "status", "count"};
	const char *rule, *status, *summary;
	char ts[32];
	size_t mark;
	int sev, r;

	if (!json_is_object(doc) || out == NULL || facility < 0 || facility > 23)
		return -EINVAL;
	sev = sw_render_syslog_severity(json_string_value(json_object_get(doc, "severity")));
	if (sev < 0)
		return sev;
	rule = json_string_value(json_object_get(doc, "rule"));
	status = json_string_value(json_object_get(doc, "status"));
	summary = json_string_value(json_object_get(doc, "summary"));
	sw_time_format(now, ts, sizeof(ts));

	/* On failure leave out as it was: no half line is ever sent. */
	mark = out->len;
	if ((r = sw_buf_printf(out, "<%d>1 %s ", facility * 8 + sev, ts)) < 0 ||
	    (r = render_header_field(out, hostname, RENDER_HOSTNAME_MAX)) < 0 ||
	    (r = sw_buf_append(out, " " RENDER_APP_NAME " - ", strlen(" " RENDER_APP_NAME " - "))) < 0 ||
	    (r = render_header_field(out, rule, RENDER_MSGID_MAX)) < 0 ||
	    (r = sw_buf_append(out, " [" RENDER_SD_ID, strlen(" [" RENDER_SD_ID))) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		if ((r = render_sd_param(out, doc, params[i])) < 0)
			goto fail;
	if ((r = sw_buf_append(out, "] ", 2)) < 0)
		goto fail;
	if (render_has_non_ascii(status) || render_has_non_ascii(summary))
		if ((r = sw_buf_append(out, "\xEF\xBB\xBF", 3)) < 0)
			goto fail;
	if ((r = sw_buf_append(out, "[", 1)) < 0 || (r = render_text(out, status ? status : "-", false)) < 0 ||
	    (r = sw_buf_append(out, "]", 1)) < 0)
		goto fail;
	if (summary != NULL && *summary != '\0')
		if ((r = sw_buf_append(out, " ", 1)) < 0 || (r = render_text(out, summary, false)) < 0)
			goto fail;
	return 0;
fail:
	out->len = mark;
	if (out->data != NULL)
		out->data[mark] = '\0';
	return r;
}
