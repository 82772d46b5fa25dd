/* inventory.c: the migration inventory as CSV (see inventory.h). */
#include "inventory.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One cell from a JSON value: integers as they are, strings through
 * sw_csv_cell, anything else empty. */
static int cell(struct sw_buf *b, const json_t *v, bool last)
{
	char tmp[32];
	int r;

	if (json_is_integer(v)) {
		snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		r = sw_buf_append(b, tmp, strlen(tmp));
	} else {
		r = sw_csv_cell(b, json_is_string(v) ? json_string_value(v) : "");
	}
	return r < 0 ? r : sw_buf_append(b, last ? "\r\n" : ",", last ? 2 : 1);
}

/* See inventory.h. */
int sw_inventory_csv_head(bool bom, struct sw_buf *out)
{
	int r = 0;

	if (bom)
		r = sw_buf_append(out, "\xef\xbb\xbf", 3);
	if (r >= 0)
		r = sw_buf_append(out, SW_INVENTORY_CSV_HEADER "\r\n", strlen(SW_INVENTORY_CSV_HEADER) + 2);
	return r < 0 ? -ENOMEM : 0;
}

/* See inventory.h. */
int sw_inventory_csv_tenant(const json_t *tenant_doc, struct sw_buf *out)
{
	static const char *const keys[] = {"sender",   "tenant", "auth",  "first_seen",  "last_seen",
	                                   "messages_30d", "signins_30d", "register", "owner", "device",
	                                   "criticality", "migration", "expires"};
	const size_t nk = sizeof(keys) / sizeof(keys[0]);
	const json_t *tenant = json_object_get(tenant_doc, "tenant"), *e;
	size_t j;
	int r = 0;

	json_array_foreach(json_object_get(tenant_doc, "inventory"), j, e) {
		for (size_t k = 0; r >= 0 && k < nk; k++)
			r = cell(out, strcmp(keys[k], "tenant") == 0 ? tenant : json_object_get(e, keys[k]), k + 1 == nk);
	}
	return r < 0 ? -ENOMEM : 0;
}

/* See inventory.h. */
int sw_inventory_csv(const json_t *doc, bool bom, struct sw_buf *out)
{
	const json_t *t;
	size_t i;
	int r = sw_inventory_csv_head(bom, out);

	json_array_foreach(json_object_get(doc, "tenants"), i, t) {
		if (r >= 0)
			r = sw_inventory_csv_tenant(t, out);
	}
	return r;
}
