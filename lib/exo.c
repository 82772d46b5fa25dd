/* exo.c: Exchange Online InvokeCommand answers and the effective state. */
#include "exo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* See exo.h. */
const char *sw_tristate_name(enum sw_tristate t)
{
	static const struct sw_name names[] = {
		{ SW_TRI_FALSE, "false" },
		{ SW_TRI_TRUE, "true" },
		{ 0, NULL },
	};

	return sw_name_of(names, (int)t, "null");
}

/* See exo.h. */
int sw_exo_page_parse(const char *buf, size_t len, struct sw_exo_page *ret, struct sw_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(buf, len, 0, &je);
	json_t *value, *next, *warnings, *empty = NULL;
	int r = -EINVAL;

	memset(ret, 0, sizeof(*ret));
	if (root == NULL) {
		sw_error_set(err, "<body>", je.line, "invalid JSON at line %d column %d: %s", je.line, je.column,
		             je.text);
		return -EINVAL;
	}
	value = json_object_get(root, "value");
	warnings = json_object_get(root, "@adminapi.warnings");
	if (warnings == NULL)
		warnings = json_object_get(root, "adminapi.warnings");
	if (!json_is_array(warnings))
		warnings = NULL;
	if (value == NULL && warnings != NULL) {
		/* Warnings and nothing else: no rows, not a malformed answer. */
		value = empty = json_array();
		if (empty == NULL) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (!json_is_array(value)) {
		sw_error_set(err, "<body>", 0, "no \"value\" array in the answer");
		goto out;
	}
	next = json_object_get(root, "@odata.nextLink");
	if (json_is_string(next) && json_string_length(next) > 0) {
		ret->next_link = strdup(json_string_value(next));
		if (ret->next_link == NULL) {
			r = -ENOMEM;
			goto out;
		}
	}
	ret->rows = json_incref(value);
	ret->warnings = json_incref(warnings);
	r = 0;
out:
	json_decref(empty);
	json_decref(root);
	return r;
}

/* See exo.h. */
void sw_exo_page_clear(struct sw_exo_page *p)
{
	json_decref(p->rows);
	json_decref(p->warnings);
	free(p->next_link);
	memset(p, 0, sizeof(*p));
}

/* See exo.h. */
void sw_exo_error_text(const char *buf, size_t len, char *out, size_t n)
{
	json_t *root = len > 0 ? json_loadb(buf, len, 0, NULL) : NULL;
	json_t *e = json_object_get(root, "error");
	json_t *details = json_object_get(e, "details");
	json_t *d;
	size_t i, off = 0;

	out[0] = '\0';
	json_array_foreach(details, i, d) {
		const char *m = json_string_value(json_object_get(d, "message"));
		if (m == NULL)
			continue;
		int w = snprintf(out + off, n - off, "%s%s", off ? "; " : "", m);
		if (w < 0 || (size_t)w >= n - off)
			break;
		off += (size_t)w;
	}
	if (out[0] == '\0' && json_is_string(json_object_get(e, "message"))) {
		const char *code = json_string_value(json_object_get(e, "code"));
		snprintf(out, n, "%s%s%s", code ? code : "", code ? ": " : "",
		         json_string_value(json_object_get(e, "message")));
	}
	if (out[0] == '\0' && json_is_string(e))
		snprintf(out, n, "%s", json_string_value(e));
	json_decref(root);
	if (out[0] != '\0' || len == 0)
		return;
	/* Plain text, e.g. "... maximum number of concurrent requests ...". */
	size_t l = 0;
	/* buf need not end in a NUL: stop at len. */
	while (l < len && buf[l] != '\r' && buf[l] != '\n')
		l++;
	while (l > 0 && (buf[0] == ' ' || buf[0] == '\t')) {
		buf++;
		l--;
	}
	snprintf(out, n, "%.*s", (int)(l < n ? l : n - 1), buf);
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
}

/* See exo.h. */
enum sw_tristate sw_exo_bool(const json_t *v)
{
	if (json_is_true(v))
		return SW_TRI_TRUE;
	if (json_is_false(v))
		return SW_TRI_FALSE;
	/* Some PowerShell serialisations send the string form. */
	if (json_is_string(v)) {
		if (strcasecmp(json_string_value(v), "true") == 0)
			return SW_TRI_TRUE;
		if (strcasecmp(json_string_value(v), "false") == 0)
			return SW_TRI_FALSE;
	}
	return SW_TRI_NULL;
}

/* See exo.h. */
enum sw_tristate sw_exo_row_smtp_disabled(const json_t *row)
{
	return sw_exo_bool(json_object_get(row, "SmtpClientAuthenticationDisabled"));
}

/* See exo.h. */
int sw_exo_policy_allows_basic(const json_t *rows, const char *policy, bool *ret)
{
	const json_t *row;
	size_t i;

	if (policy == NULL || policy[0] == '\0')
		return -ENOENT;
	json_array_foreach(rows, i, row) {
		const char *name = json_string_value(json_object_get(row, "Name"));
		const char *ident = json_string_value(json_object_get(row, "Identity"));

		if ((name && strcasecmp(name, policy) == 0) || (ident && strcasecmp(ident, policy) == 0)) {
			*ret = sw_exo_bool(json_object_get(row, "AllowBasicAuthSmtp")) != SW_TRI_FALSE;
			return 0;
		}
	}
	return -ENOENT;
}

/* See exo.h. */
int sw_exo_mailbox_parse(const json_t *row, struct sw_mailbox *ret)
{
	const char *addr = json_string_value(json_object_get(row, "PrimarySmtpAddress"));
	const char *ident = json_string_value(json_object_get(row, "Identity"));
	const char *oid = json_string_value(json_object_get(row, "ExternalDirectoryObjectId"));

	memset(ret, 0, sizeof(*ret));
	if (addr == NULL || *addr == '\0')
		return -EINVAL;
	if (ident == NULL)
		ident = json_string_value(json_object_get(row, "Name"));
	ret->address = sw_strdup_lower(addr);
	ret->identity = ident ? strdup(ident) : NULL;
	ret->object_id = oid ? strdup(oid) : NULL;
	ret->smtp_disabled = sw_exo_row_smtp_disabled(row);
	if (ret->address == NULL || (ident && !ret->identity) || (oid && !ret->object_id)) {
		sw_mailbox_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

/* See exo.h. */
void sw_mailbox_clear(struct sw_mailbox *m)
{
	free(m->address);
	free(m->identity);
	free(m->object_id);
	memset(m, 0, sizeof(*m));
	m->smtp_disabled = SW_TRI_NULL;
}

/* See exo.h.  The mailbox value wins when set; null inherits the tenant
 * switch.  A policy without AllowBasicAuthSmtp blocks Basic but leaves
 * OAuth SMTP working, so it does not turn SMTP AUTH off. */
void sw_effective_state(bool tenant_disabled, enum sw_tristate mailbox, const char *policy, bool policy_allows_basic,
                        struct sw_effective *ret)
{
	int off;

	memset(ret, 0, sizeof(*ret));
	if (mailbox == SW_TRI_NULL) {
		ret->smtp_auth_on = !tenant_disabled;
		off = snprintf(ret->reason, sizeof(ret->reason), "%s: inherits tenant switch",
		               ret->smtp_auth_on ? "on" : "off");
	} else {
		ret->smtp_auth_on = mailbox == SW_TRI_FALSE;
		off = snprintf(ret->reason, sizeof(ret->reason), "%s: mailbox override %s",
		               ret->smtp_auth_on ? "on" : "off", sw_tristate_name(mailbox));
	}
	if (policy != NULL && !policy_allows_basic) {
		ret->basic_blocked = true;
		if (ret->smtp_auth_on && off > 0 && (size_t)off < sizeof(ret->reason))
			snprintf(ret->reason + off, sizeof(ret->reason) - (size_t)off, "; Basic blocked by policy %s",
			         policy);
	}
}
