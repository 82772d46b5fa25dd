/* control_audit.c: changes: the admin changes of SMTP AUTH settings the
 * audit source stored (who, when, from which IP, which cmdlet). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "control.h"
#include "detect_audit.h"
#include "jsonutil.h"
#include "smtpwatchd.h"
#include "store_audit.h"

#define CHANGES_MAX 1000

static int change_cb(const struct sw_change_row *c, void *arg)
{
	json_t *j = sw_change_row_json(c);

	if (j == NULL)
		return -ENOMEM;
	json_array_append_new(arg, j);
	return 0;
}

/* changes {"tenant":optional,"since":"DUR" optional}: newest first. */
int control_cmd_changes(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n)
{
	const char *tenant = json_string_value(json_object_get(req, "tenant"));
	json_t *jsince = json_object_get(req, "since");
	json_t *out = json_array();
	int64_t since = 0, dur;
	bool audit_on = false;
	int r;

	(void)peer;
	if (out == NULL)
		return -ENOMEM;
	if (tenant != NULL && daemon_tenant(d, tenant) == NULL) {
		snprintf(why, n, "no tenant %.100s in the configuration", tenant);
		json_decref(out);
		return -ENOENT;
	}
	if (json_is_string(jsince)) {
		if (sw_duration_parse(json_string_value(jsince), &dur) < 0 || dur <= 0) {
			snprintf(why, n, "invalid duration \"%.40s\" (use 30s, 5m, 2h, 7d)", json_string_value(jsince));
			json_decref(out);
			return -EINVAL;
		}
		since = daemon_now() - dur;
	}
	for (size_t i = 0; i < d->n_tenants; i++)
		if (tenant == NULL || strcmp(d->tenants[i]->cfg->name, tenant) == 0)
			audit_on |= d->tenants[i]->cfg->audit;
	r = sw_store_changes_list(d->store, tenant, NULL, since, CHANGES_MAX, change_cb, out);
	if (r < 0) {
		snprintf(why, n, "cannot read the store: %s", sw_store_errmsg(d->store));
		json_decref(out);
		return r;
	}
	*ret_data = json_pack("{s:o,s:b,s:o}", "since", sw_json_time_or_null(since), "audit", audit_on, "changes", out);
	return *ret_data ? 0 : -ENOMEM;
}

/* See control.h: the changes of one mailbox (its address or Identity). */
int control_mailbox_changes(struct daemon *d, const char *tenant, const char *address, const char *identity,
                            json_t *out)
{
	int r = sw_store_changes_list(d->store, tenant, address, 0, 50, change_cb, out);

	if (r >= 0 && identity != NULL && identity[0] && strcasecmp(identity, address) != 0)
		r = sw_store_changes_list(d->store, tenant, identity, 0, 50, change_cb, out);
	return r;
}
