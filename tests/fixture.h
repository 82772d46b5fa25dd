/* fixture.h: what the unit suites share: the files of tests/data, a
 * store in a temporary directory, a config with one webhook sink and the
 * tenant "contoso", and an exception register over the caller's entries. */
#pragma once

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "register.h"
#include "store.h"

/* tests/data/DIR/NAME whole (SW_TEST_DATA, or tests/data when run by
 * hand), NUL-terminated, in a buffer the caller frees; its length without
 * the NUL in *ret_len unless that is NULL.  Fails the test when the file
 * cannot be read. */
static inline char *fixture_load(const char *dir, const char *name, size_t *ret_len)
{
	const char *data = getenv("SW_TEST_DATA");
	char path[1024];
	char *buf;
	long len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", data != NULL ? data : "tests/data", dir, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ck_assert_int_ge(len, 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_msg(fread(buf, 1, (size_t)len, f) == (size_t)len, "short read of %s", path);
	fclose(f);
	buf[len] = '\0';
	if (ret_len != NULL)
		*ret_len = (size_t)len;
	return buf;
}

/* Make dir (a buffer of n) a fresh directory $TMPDIR/sw-NAME-XXXXXX
 * (/tmp when TMPDIR is unset or empty). */
static inline void fixture_tmpdir(char *dir, size_t n, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	int len = snprintf(dir, n, "%s/sw-%s-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp", name);

	ck_assert_msg(len > 0 && (size_t)len < n, "temporary directory name too long for %zu bytes", n);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
}

static inline int fixture_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove dir and everything below it, links not followed. */
static inline void fixture_rmtree(const char *dir)
{
	ck_assert_msg(nftw(dir, fixture_rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0, "cannot remove %s", dir);
}

/* Make dir (a buffer of 64) as $TMPDIR/sw-NAME-XXXXXX and open a store in it. */
static inline void fixture_store_open(char *dir, const char *name, struct sw_store **ret)
{
	struct sw_error err = {0};
	char path[128];

	fixture_tmpdir(dir, 64, name);
	snprintf(path, sizeof(path), "%s/smtpwatch.db", dir);
	ck_assert_int_eq(sw_store_open(path, ret, &err), 0);
}

/* Close the store and remove its directory. */
static inline void fixture_store_close(const char *dir, struct sw_store *store)
{
	sw_store_free(store);
	fixture_rmtree(dir);
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
