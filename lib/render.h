/* render.h: from a stored alert document (sw_alert_document) to the bytes
 * each sink type sends.  Each returns 0 and appends to out, or -errno. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "util.h"

/* Webhook: the document itself, compact JSON. */
int sw_render_webhook(const json_t *doc, struct sw_buf *out);
/* RFC 5424 message without transport framing:
 * "<PRI>1 TIMESTAMP HOST smtpwatch - RULE [smtpwatch@32473 rule=".." severity=".."
 *  tenant=".." subject=".." id=".." status=".."] SUMMARY"
 * facility is the syslog facility number (e.g. 10 for authpriv). */
int sw_render_syslog(const json_t *doc, int facility, const char *hostname, int64_t now, struct sw_buf *out);
/* Syslog severity (0..7) for an alert severity name ("critical" -> 2 ...). */
int sw_render_syslog_severity(const char *severity);
