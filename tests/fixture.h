/* fixture.h: what the rule suites share: a store in a temporary
 * directory, a config with one webhook sink and the tenant "contoso", and
 * an exception register over the caller's entries. */
#pragma once

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "register.h"
#include "store.h"

/* Make dir (a buffer of 64) as /tmp/sw-NAME-XXXXXX and open a store in it. */
static inline void fixture_store_open(char *dir, const char *name, struct sw_store **ret)
{
	struct sw_error err = {0};
	char path[128];

	snprintf(dir, 64, "/tmp/sw-%s-XXXXXX", name);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/smtpwatch.db", dir);
	ck_assert_int_eq(sw_store_open(path, ret, &err), 0);
}

/* Close the store and remove its directory. */
static inline void fixture_store_close(const char *dir, struct sw_store *store)
{
	char cmd[128];

	sw_store_free(store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* cfg: the sink "soc" (webhook, every severity), the tenant "contoso",
 * SPEC's default lifetimes; reg: "exceptions.conf" over entries (the
 * caller sets how many count). */
static inline void fixture_config(struct sw_config *cfg, struct sw_sink_config *sink, struct sw_tenant_config *tenant,
                                  struct sw_register *reg, struct sw_exception *entries, size_t n_entries)
{
	memset(cfg, 0, sizeof(*cfg));
	memset(sink, 0, sizeof(*sink));
	sink->name = "soc";
	sink->type = SW_SINK_WEBHOOK;
	sink->min_severity = SW_SEV_INFO;
	cfg->sinks = sink;
	cfg->n_sinks = 1;
	cfg->rules.unused_after = 30 * 86400;
	cfg->rules.expiring_within = 14 * 86400;
	cfg->rules.max_exception_lifetime = 90 * 86400;
	memset(tenant, 0, sizeof(*tenant));
	tenant->name = "contoso";
	tenant->tenant_id = "contoso.onmicrosoft.com";
	cfg->tenants = tenant;
	cfg->n_tenants = 1;
	if (n_entries > 0)
		memset(entries, 0, n_entries * sizeof(*entries));
	memset(reg, 0, sizeof(*reg));
	reg->path = "exceptions.conf";
	reg->entries = entries;
}
