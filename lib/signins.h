/* signins.h: Microsoft Graph auditLogs/signIns pages -> records (pure). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Graph's largest page ($top is 1..1000).  A page with more records is not
 * from Graph as documented: it is refused whole (-E2BIG), not parsed. */
#define SW_SIGNINS_PAGE_MAX 1000

/* Field limits, in bytes.  Graph's ids are GUIDs (36 bytes) and a UPN is an
 * address (64 + 1 + 255 at most, RFC 5321); the limits leave room for any
 * real value and stop a hostile endpoint from storing megabytes per record.
 * Keys (ids, UPN, IP, client app, country) are never cut: a record with an
 * over-long key is skipped, since a cut key would merge or misattribute
 * records.  Free text (failureReason, city) is cut to its limit at a UTF-8
 * boundary: it is only shown, never matched. */
#define SW_SIGNIN_ID_MAX 128       /* id, correlationId, userId, appId */
#define SW_SIGNIN_UPN_MAX 320      /* userPrincipalName */
#define SW_SIGNIN_IP_MAX 64        /* ipAddress (IPv6 text is at most 45) */
#define SW_SIGNIN_APP_MAX 128      /* clientAppUsed */
#define SW_SIGNIN_COUNTRY_MAX 64   /* location.countryOrRegion (two letters) */
#define SW_SIGNIN_CITY_MAX 256     /* location.city: cut */
#define SW_SIGNIN_REASON_MAX 1024  /* status.failureReason: cut */

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

/* A record of the page that could not be read, for the log. */
struct sw_signin_skip {
	size_t index; /* position in "value", from 0 */
	char id[48];  /* its id as printable ASCII (cut, '?' for other bytes), "" if none */
	char why[80]; /* "no id", "createdDateTime \"yesterday\" unreadable", ... */
};
#define SW_SIGNINS_SKIP_NOTES 5 /* skipped records described per page */

struct sw_signin_page {
	struct sw_signin *items;
	size_t n;
	/* Records that could not be read: not an object, no id or
	 * createdDateTime, a field of the wrong type, an over-long key.  The
	 * first SW_SIGNINS_SKIP_NOTES are described in skips. */
	size_t skipped;
	struct sw_signin_skip skips[SW_SIGNINS_SKIP_NOTES];
	char *next_link;  /* @odata.nextLink or NULL */
};

/* Parse one page.  -EINVAL with err filled (line/column from jansson) when
 * the body is not JSON or has no "value" array; -E2BIG with err filled when
 * "value" holds more than SW_SIGNINS_PAGE_MAX records. */
int sw_signins_parse(const char *buf, size_t len, struct sw_signin_page *ret, struct sw_error *err);
/* The same, with jansson's tree of the page allocated by alloc (an arena
 * of the caller's) and never freed node by node: the caller drops the
 * arena whole once this returns, since nothing of the tree outlives the
 * call (the records are copies).  jansson's allocation functions are
 * process-wide: they are alloc only while the body is loaded, and set back
 * before this returns; the caller runs no other jansson code meanwhile
 * (the daemon is one thread).  Building and freeing the tree of a
 * 1,000-record page node by node was half the cost of a page. */
int sw_signins_parse_arena(const char *buf, size_t len, void *(*alloc)(size_t), struct sw_signin_page *ret,
                           struct sw_error *err);
void sw_signin_page_clear(struct sw_signin_page *p);
void sw_signin_clear(struct sw_signin *s);

/* Graph's error shape {"error":{"code":..,"message":..}} -> "code: message".
 * 0 if recognised, -EINVAL otherwise. */
int sw_graph_error_parse(const char *buf, size_t len, char *out, size_t n);
