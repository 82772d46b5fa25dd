/* digest.c: the smtpwatch.digest/1 document (digest.h). */
#include "digest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "config.h"

/* See digest.h. */
bool sw_digest_is(const json_t *doc)
{
	const char *schema = json_string_value(json_object_get(doc, "schema"));

	return schema != NULL && strcmp(schema, SW_DIGEST_SCHEMA) == 0;
}

/* See digest.h. */
int sw_digest_document_meta(const char *id, const char *rule, const char *tenant, const char *const *docs,
                            size_t n_docs, const struct sw_digest_meta *meta, char **ret)
{
	enum sw_severity top = SW_SEV_INFO;
	json_t *out = NULL, *alerts = NULL;
	char summary[256];
	size_t n;
	int r = -ENOMEM;

	if (id == NULL || rule == NULL || tenant == NULL || meta == NULL || meta->count == 0 ||
	    (docs == NULL && n_docs > 0))
		return -EINVAL;
	n = meta->count;
	if (meta->severity != NULL && sw_severity_parse(meta->severity, &top) < 0)
		top = SW_SEV_INFO;
	alerts = json_array();
	if (alerts == NULL)
		goto out;
	for (size_t i = 0; i < n_docs && json_array_size(alerts) < SW_DIGEST_ALERTS_MAX; i++) {
		json_t *doc = json_loads(docs[i], 0, NULL);

		if (doc != NULL && json_array_append_new(alerts, doc) < 0)
			goto out;
	}
	snprintf(summary, sizeof(summary), "%zu alert%s of %s in tenant %s", n, n == 1 ? "" : "s", rule, tenant);
	out = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s,s:i,s:I,s:s,s:s?,s:s?,s:O,s:I}", "schema", SW_DIGEST_SCHEMA, "id",
	                id, "rule", rule, "tenant", tenant, "tenant_id", meta->tenant_id, "severity",
	                sw_severity_name(top), "severity_id", sw_alert_severity_id(top), "count", (json_int_t)n,
	                "summary", summary, "first_seen", meta->first_seen, "last_seen", meta->last_seen, "alerts",
	                alerts, "more", (json_int_t)(n > SW_DIGEST_ALERTS_MAX ? n - SW_DIGEST_ALERTS_MAX : 0));
	if (out == NULL)
		goto out;
	*ret = json_dumps(out, JSON_COMPACT);
	r = *ret != NULL ? 0 : -ENOMEM;
out:
	json_decref(out);
	json_decref(alerts);
	return r;
}

/* See digest.h.  Times compare as text: every document writes them in
 * the one form "2026-11-20T08:01:12Z". */
int sw_digest_document(const char *id, const char *rule, const char *tenant, const char *const *docs, size_t n,
                       char **ret)
{
	enum sw_severity top = SW_SEV_INFO, sev;
	struct sw_digest_meta meta = {.count = n};
	const char **valid = NULL;
	json_t *tenant_id = NULL;
	char first[32] = "", last[32] = "";
	size_t n_valid = 0;
	int r;

	if (id == NULL || rule == NULL || tenant == NULL || docs == NULL || n == 0)
		return -EINVAL;
	valid = calloc(n, sizeof(*valid));
	if (valid == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *doc = json_loads(docs[i], 0, NULL);
		const char *fs = json_string_value(json_object_get(doc, "first_seen"));
		const char *ls = json_string_value(json_object_get(doc, "last_seen"));

		if (doc == NULL)
			continue;
		valid[n_valid++] = docs[i];
		if (sw_severity_parse(json_string_value(json_object_get(doc, "severity")), &sev) == 0 && sev > top)
			top = sev;
		if (tenant_id == NULL && json_is_string(json_object_get(doc, "tenant_id")))
			tenant_id = json_incref(json_object_get(doc, "tenant_id"));
		if (fs != NULL && strlen(fs) < sizeof(first) && (first[0] == '\0' || strcmp(fs, first) < 0))
			snprintf(first, sizeof(first), "%s", fs);
		if (ls != NULL && strlen(ls) < sizeof(last) && strcmp(ls, last) > 0)
			snprintf(last, sizeof(last), "%s", ls);
		json_decref(doc);
	}
	meta.severity = sw_severity_name(top);
	meta.tenant_id = json_string_value(tenant_id);
	meta.first_seen = first[0] ? first : NULL;
	meta.last_seen = last[0] ? last : NULL;
	r = sw_digest_document_meta(id, rule, tenant, valid, n_valid, &meta, ret);
	json_decref(tenant_id);
	free(valid);
	return r;
}
