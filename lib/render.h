/* render.h: from a stored alert document (sw_alert_document) to the bytes
 * each sink type sends.  Each returns 0 and appends to out, or -errno. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "util.h"

/* Webhook: the document itself, compact JSON. */
int sw_render_webhook(const json_t *doc, struct sw_buf *out);
/* The forms of a syslog message (without transport framing, one line).
 *
 * SW_RENDER_SYSLOG_5424, RFC 5424 with structured data:
 *   <PRI>1 TIMESTAMP HOST smtpwatch - RULE [SD_ID id=".." rule=".."
 *   severity=".." tenant=".." subject=".." status=".." count=".."
 *   first_seen=".." last_seen=".." src_ip=".." country=".."] [BOM][STATUS] SUMMARY
 * TIMESTAMP is now in UTC; HOST and RULE (MSGID, at most 32 bytes) keep
 * printable ASCII, other bytes become '_', "-" when empty; PROCID is "-";
 * SD values escape '"', '\' and ']' (RFC 5424 6.3.3); a UTF-8 BOM
 * precedes MSG when it is not plain ASCII.
 *
 * SW_RENDER_SYSLOG_LOCAL, what syslog(3) writes to /dev/log, which
 * journald and rsyslog's imuxsock read as written (SYSLOG_IDENTIFIER,
 * SYSLOG_PID, PRIORITY, MESSAGE):
 *   <PRI>Mmm dd hh:mm:ss smtpwatch[PID]: [STATUS] SUMMARY id=.. rule=.. ...
 * SW_RENDER_SYSLOG_3164, the same with HOST before the tag (RFC 3164 4.1),
 * for a network receiver.  The time is now in local time, as syslog(3)
 * writes it, the day space-padded and the month in English.  After the
 * message come the same fields as in the 5424 SD, as key=value; a value
 * that is empty or holds a space, '"', '\' or '=' is quoted, with '"'
 * and '\' escaped by a backslash.
 *
 * In every form src_ip and country are the document's entities.ips and
 * entities.countries (evidence.ips and evidence.countries in a document
 * without entities) joined with ',' (whole items only, at most
 * SW_RENDER_SYSLOG_LIST_MAX bytes), other values at most
 * SW_RENDER_SYSLOG_VALUE_MAX bytes; members absent from the document are
 * left out.  Control bytes (CR, LF, ..., and the C1 controls
 * U+0080..U+009F) become spaces.  The whole message is at most
 * SW_RENDER_SYSLOG_MAX bytes: SUMMARY is cut to fit, never inside a UTF-8
 * sequence or an escape, so the fields always arrive whole.
 *
 * PRI = facility * 8 + sw_render_syslog_severity().  -EINVAL for a doc
 * without a known severity, a facility outside 0..23 or an unknown form;
 * out is unchanged on failure. */
enum sw_render_syslog_form {
	SW_RENDER_SYSLOG_5424,
	SW_RENDER_SYSLOG_LOCAL,
	SW_RENDER_SYSLOG_3164,
};
struct sw_render_syslog_opts {
	enum sw_render_syslog_form form;
	int facility;          /* 0..23, e.g. 10 for authpriv */
	const char *hostname;  /* 5424 and 3164 HOST */
	const char *sd_id;     /* 5424 SD-ID; NULL: SW_SYSLOG_SD_ID_DEFAULT */
	long pid;              /* local and 3164: the tag's [PID] */
};
#define SW_RENDER_SYSLOG_MAX 8192
#define SW_RENDER_SYSLOG_VALUE_MAX 256
#define SW_RENDER_SYSLOG_LIST_MAX 2048
int sw_render_syslog(const json_t *doc, const struct sw_render_syslog_opts *o, int64_t now, struct sw_buf *out);
/* Syslog severity (0..7) for an alert severity name ("critical" -> 2 ...). */
int sw_render_syslog_severity(const char *severity);

/* Microsoft Teams (a Workflows "post to a channel" webhook): the message
 * envelope {"type":"message","attachments":[{"contentType":
 * "application/vnd.microsoft.card.adaptive","contentUrl":null,
 * "content":CARD}]} around an Adaptive Card of schema version 1.4: a
 * header in the severity's colour (green once resolved), the summary, a
 * fact set (tenant, subject, severity, status, count, first and last
 * seen, resolved at, alert id), the evidence as a second fact set (at most
 * SW_RENDER_TEAMS_LIST items of a list, then "and N more"), and the
 * remediation in a monospace block while firing.  -EINVAL for a doc
 * without rule or a known severity; out is unchanged on failure. */
#define SW_RENDER_TEAMS_LIST 10
int sw_render_teams(const json_t *doc, struct sw_buf *out);

/* Teams: a smtpwatch.digest/1 document as one card in the same envelope:
 * a header in the severity's colour ("N alerts: RULE"), then a table of
 * the first SW_RENDER_TEAMS_DIGEST_ROWS alerts (subject, severity, count,
 * last seen; a ColumnSet a row, as Adaptive Cards 1.4 has no Table), and
 * "and N more".  -EINVAL for a doc without rule, a known severity or
 * alerts. */
#define SW_RENDER_TEAMS_DIGEST_ROWS 20
int sw_render_teams_digest(const json_t *doc, struct sw_buf *out);

/* Splunk HEC: {"time":EPOCH.MS,"host":HOST,"source":"smtpwatch",
 * "sourcetype":"smtpwatch:alert","event":DOC}, compact, in that order.
 * time_ms is the transition's time (milliseconds), so a resent event is
 * byte for byte the first one; host is left out when NULL or empty. */
int sw_render_hec(const json_t *doc, const char *host, int64_t time_ms, struct sw_buf *out);
/* The same with the sink's metadata: {"time":..,"host":..,"source":SOURCE,
 * "sourcetype":SOURCETYPE,"index":INDEX,"event":DOC}; a NULL member (or
 * meta) takes the default (source "smtpwatch", sourcetype
 * "smtpwatch:alert", no index: the token's default index). */
struct sw_hec_meta {
	const char *index, *source, *sourcetype;
};
int sw_render_hec_event(const json_t *doc, const char *host, int64_t time_ms, const struct sw_hec_meta *meta,
                        struct sw_buf *out);

/* What a HEC answer means for the event. */
enum sw_hec_outcome {
	SW_HEC_OK,       /* accepted */
	SW_HEC_RETRY,    /* busy, unhealthy, 5xx, 429, no answer: try again later */
	SW_HEC_TOKEN,    /* token disabled, missing or invalid (codes 1-4, 401/403): fix the sink */
	SW_HEC_CONFIG,   /* other errors of the sink's setup (index, channel, ack): fix the sink */
	SW_HEC_REJECTED, /* the event itself is refused (codes 5, 6, 12, 13, 15): never accepted */
};
struct sw_hec_result {
	enum sw_hec_outcome outcome;
	int code;       /* HEC's "code", -1 when the answer had none */
	char text[128]; /* HEC's "text" (printable ASCII), "" when none */
};
/* Classify an answer: HTTP status (0: none) and body (may be NULL). */
void sw_render_hec_result(long status, const char *body, size_t len, struct sw_hec_result *ret);

/* journald: the alert as "KEY=value" fields for sd_journal_sendv():
 * MESSAGE ("[STATUS] TENANT: SUMMARY"), MESSAGE_ID (the rule's stable id,
 * left out for a rule without one), PRIORITY (sw_render_syslog_severity),
 * SYSLOG_IDENTIFIER=smtpwatch, then SMTPWATCH_<MEMBER> for every member of
 * the document that is not null (strings as they are, numbers and
 * booleans as JSON, objects and arrays as compact JSON: SMTPWATCH_EVIDENCE),
 * and SMTPWATCH_EVIDENCE_<KEY> once per item of each evidence list (once
 * for a scalar), so `journalctl SMTPWATCH_EVIDENCE_IPS=198.51.100.7`
 * finds it; the same for the version 2 entities (SMTPWATCH_ENTITIES_MAILBOX,
 * SMTPWATCH_ENTITIES_IPS, ..., null ones left out).  Member names become upper case, other bytes than A-Z, 0-9
 * and '_' become '_', at most 64 bytes.  Values are escaped with
 * sw_escape_text (one line, no control bytes), the same as the log.  *ret_fields is a malloc'd array of *ret_n malloc'd
 * strings, for sw_render_journal_free().  -EINVAL for a doc without rule
 * or a known severity. */
int sw_render_journal(const json_t *doc, char ***ret_fields, size_t *ret_n);
void sw_render_journal_free(char **fields, size_t n);
/* The 128-bit MESSAGE_ID of a rule as 32 lower-case hex digits (static),
 * the same as in systemd/smtpwatch.catalog; NULL for an unknown rule. */
const char *sw_render_journal_message_id(const char *rule);
