/* render.h: from a stored alert document (sw_alert_document) to the bytes
 * each sink type sends.  Each returns 0 and appends to out, or -errno. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "util.h"

/* Webhook: the document itself, compact JSON. */
int sw_render_webhook(const json_t *doc, struct sw_buf *out);
/* RFC 5424 message without transport framing, on one line:
 * "<PRI>1 TIMESTAMP HOST smtpwatch - RULE [smtpwatch@32473 id=".." rule=".."
 *  severity=".." tenant=".." subject=".." status=".." count=".."] [STATUS] SUMMARY"
 * PRI = facility * 8 + sw_render_syslog_severity(); TIMESTAMP is now in
 * UTC; HOST and RULE (MSGID, at most 32 bytes) keep printable ASCII, other
 * bytes become '_', "-" when empty; SD values escape '"', '\' and ']';
 * control bytes (CR, LF, ...) become spaces; a UTF-8 BOM precedes MSG
 * when it is not plain ASCII.  facility is the syslog facility number
 * (e.g. 10 for authpriv), 0..23.  -EINVAL for a doc without a known
 * severity; out is unchanged on failure. */
int sw_render_syslog(const json_t *doc, int facility, const char *hostname, int64_t now, struct sw_buf *out);
/* Syslog severity (0..7) for an alert severity name ("critical" -> 2 ...). */
int sw_render_syslog_severity(const char *severity);
