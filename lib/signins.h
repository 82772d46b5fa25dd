/* signins.h: Microsoft Graph auditLogs/signIns pages -> records (pure). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct sw_signin {
	char *id;            /* required */
	int64_t created;     /* Unix seconds, required */
	char *created_text;  /* as Graph sent it */
	char *upn;           /* lower-case userPrincipalName, may be NULL */
	char *user_id;
	char *app_id;
	char *ip;
	char *client_app;    /* "Authenticated SMTP" */
	char *correlation_id;
	int error_code;      /* status.errorCode, 0 = success */
	char *failure_reason;
	char *country;       /* location.countryOrRegion */
	char *city;
};

struct sw_signin_page {
	struct sw_signin *items;
	size_t n;
	size_t skipped;   /* records without id or a parsable createdDateTime */
	char *next_link;  /* @odata.nextLink or NULL */
};

/* Parse one page.  -EINVAL with err filled (line/column from jansson) when
 * the body is not JSON or has no "value" array. */
int sw_signins_parse(const char *buf, size_t len, struct sw_signin_page *ret, struct sw_error *err);
void sw_signin_page_clear(struct sw_signin_page *p);
void sw_signin_clear(struct sw_signin *s);

/* Graph's error shape {"error":{"code":..,"message":..}} -> "code: message".
 * 0 if recognised, -EINVAL otherwise. */
int sw_graph_error_parse(const char *buf, size_t len, char *out, size_t n);
