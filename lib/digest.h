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
/* What a digest says of all its members, gathered without parsing each
 * one (sw_store_outbox_digest reads them with SQLite's json_extract). */
struct sw_digest_meta {
	size_t count;          /* members */
	const char *severity;  /* the highest of theirs, NULL: info */
	const char *tenant_id; /* the first one's, NULL none */
	const char *first_seen, *last_seen; /* earliest and latest, NULL none */
};
/* The same document from the first documents of the members only (docs,
 * n_docs of them, at most SW_DIGEST_ALERTS_MAX are used, those that are
 * not JSON left out) and meta for the whole digest.  0, -EINVAL
 * (meta->count == 0 or no rule/tenant) or -ENOMEM. */
int sw_digest_document_meta(const char *id, const char *rule, const char *tenant, const char *const *docs,
                            size_t n_docs, const struct sw_digest_meta *meta, char **ret);
/* Is doc (parsed) a digest document? */
bool sw_digest_is(const json_t *doc);
