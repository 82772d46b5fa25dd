/* digest.h: the smtpwatch.digest/1 document (SPEC "Sinks at scale"): one
 * message that stands for many alert documents of one rule in one tenant
 * for one sink. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SW_DIGEST_SCHEMA "smtpwatch.digest/1"
#define SW_DIGEST_ALERTS_MAX 50 /* alert documents a digest carries; "more" counts the rest */

/* The digest id's document as compact JSON text (*ret malloc'd):
 * {"schema":SW_DIGEST_SCHEMA,"id":ID,"rule":..,"tenant":..,"tenant_id":..,
 *  "severity":..,"severity_id":..,"count":N,"summary":"N alerts of RULE in
 *  tenant TENANT","first_seen":..,"last_seen":..,"alerts":[the first
 *  SW_DIGEST_ALERTS_MAX of docs],"more":N-50 or 0}.
 * docs are the members' alert documents (compact JSON, as queued), n of
 * them; severity is the highest of theirs, tenant_id the first one's,
 * first_seen and last_seen the earliest and latest.  A member that is not
 * JSON is counted and left out of "alerts".  0, -EINVAL (n == 0 or no
 * rule/tenant) or -ENOMEM. */
int sw_digest_document(const char *id, const char *rule, const char *tenant, const char *const *docs, size_t n,
                       char **ret);
/* Is doc (parsed) a digest document? */
bool sw_digest_is(const json_t *doc);
