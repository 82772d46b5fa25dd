/* test_register.c: the exception register: entries, FILE:LINE errors, warnings, CIDRs. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "register.h"

#define DAY 86400LL
#define NOW 1795348800LL /* 2026-11-22T12:00:00Z */
#define MIDNIGHT_22 (NOW - 12 * 3600)
#define LIFETIME (90 * DAY)

static struct sw_register *reg;
static struct sw_diag diag;
static char path[512];
static char tmp[512];

static void setup(void)
{
	reg = NULL;
	memset(&diag, 0, sizeof(diag));
	tmp[0] = '\0';
}

static void teardown(void)
{
	sw_register_free(reg);
	reg = NULL;
	sw_diag_clear(&diag);
	if (tmp[0] != '\0')
		unlink(tmp);
}

/* All diagnostics as one string, for failure messages. */
static const char *diag_text(void)
{
	static char buf[8192];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < diag.n && o < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\n  %s:%d: %s%s", diag.items[i].source,
		                      diag.items[i].line, diag.items[i].warning ? "warning: " : "",
		                      diag.items[i].text);
	return buf;
}

/* Load tests/data/register/NAME. */
static int load_data(const char *name, int64_t now)
{
	const char *data = getenv("SW_TEST_DATA");

	ck_assert_ptr_nonnull(data);
	snprintf(path, sizeof(path), "%s/register/%s", data, name);
	return sw_register_load(path, LIFETIME, now, &reg, &diag);
}

/* Load a register written from text into a temporary file. */
static int load_text(const char *text, int64_t now)
{
	int fd;

	if (tmp[0] != '\0')
		unlink(tmp); /* a test's earlier register: teardown removes the last */
	snprintf(tmp, sizeof(tmp), "/tmp/sw-test-register-XXXXXX");
	fd = mkstemp(tmp);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(path, sizeof(path), "%s", tmp);
	return sw_register_load(path, LIFETIME, now, &reg, &diag);
}

/* Is there a diagnostic of this kind at this line whose text holds frag? */
static bool has_diag(bool warning, int line, const char *frag)
{
	for (size_t i = 0; i < diag.n; i++)
		if (diag.items[i].warning == warning && diag.items[i].line == line &&
		    strcmp(diag.items[i].source, path) == 0 && strstr(diag.items[i].text, frag) != NULL)
			return true;
	return false;
}

START_TEST(valid_entries)
{
	const struct sw_exception *e;

	ck_assert_msg(load_data("valid.conf", NOW) == 0, "refused:%s", diag_text());
	ck_assert_msg(diag.n == 0, "unexpected:%s", diag_text());
	ck_assert_str_eq(reg->path, path);
	ck_assert_uint_eq(reg->n, 3);

	e = &reg->entries[0];
	ck_assert_str_eq(e->mailbox, "scanner-hq@contoso.com");
	ck_assert_int_eq(e->line, 2);
	ck_assert_str_eq(e->owner, "facilities@contoso.com");
	ck_assert_str_eq(e->justification, "Ricoh MFP scan-to-mail, firmware has no OAuth");
	ck_assert_str_eq(e->ticket, "CHG-10422");
	ck_assert_str_eq(e->expires_text, "2027-01-31");
	ck_assert_int_eq(e->expires, 1801440000); /* 2027-02-01T00:00:00Z */
	ck_assert_int_eq(e->max_daily_messages, 400);
	ck_assert_uint_eq(e->n_allowed_ips, 2);
	ck_assert_int_eq(e->allowed_ips[0].family, AF_INET);
	ck_assert_int_eq(e->allowed_ips[0].prefix, 28);
	ck_assert_int_eq(e->allowed_ips[1].family, AF_INET6);
	ck_assert_int_eq(e->allowed_ips[1].prefix, 48);
	ck_assert(sw_exception_active(e, NOW));
	ck_assert(sw_exception_active(e, 1801440000 - 1)); /* 2027-01-31T23:59:59Z */
	ck_assert(!sw_exception_active(e, 1801440000));
	ck_assert(sw_exception_ip_allowed(e, "203.0.113.9"));
	ck_assert(sw_exception_ip_allowed(e, "2001:db8:10:42::7"));
	ck_assert(!sw_exception_ip_allowed(e, "203.0.113.16"));
	ck_assert(!sw_exception_ip_allowed(e, "2001:db8:11::7"));
	ck_assert(!sw_exception_ip_allowed(e, "not-an-ip"));

	e = &reg->entries[1];
	ck_assert_str_eq(e->mailbox, "erp-notify@contoso.com");
	ck_assert_int_eq(e->max_daily_messages, -1);
	ck_assert_uint_eq(e->n_allowed_ips, 1);
	ck_assert(sw_exception_ip_allowed(e, "198.51.100.17"));
	ck_assert(!sw_exception_ip_allowed(e, "198.51.100.18"));

	e = &reg->entries[2];
	ck_assert_str_eq(e->mailbox, "legacy-app@contoso.com");
	ck_assert_ptr_null(e->allowed_ips);
	ck_assert_uint_eq(e->n_allowed_ips, 0);
	ck_assert(sw_exception_ip_allowed(e, "192.0.2.1")); /* no allowed_ips: anywhere */
	ck_assert(sw_exception_ip_allowed(e, "2001:db8::1"));
	ck_assert(sw_exception_active(e, NOW));
	ck_assert(!sw_exception_active(e, 1795392000)); /* 2026-11-23T00:00:00Z */
}
END_TEST

START_TEST(shipped_example_register)
{
	const char *data = getenv("SW_TEST_DATA");

	ck_assert_ptr_nonnull(data);
	snprintf(path, sizeof(path), "%s/../../conf/exceptions-contoso.conf", data);
	ck_assert_msg(sw_register_load(path, LIFETIME, NOW, &reg, &diag) == 0, "refused:%s", diag_text());
	ck_assert_msg(diag.n == 0, "diagnostics on the example:%s", diag_text());
	ck_assert_uint_eq(reg->n, 3);
	ck_assert_ptr_nonnull(sw_register_find(reg, "scanner-hq@contoso.com"));
}
END_TEST

START_TEST(find_is_case_insensitive)
{
	ck_assert_msg(load_data("valid.conf", NOW) == 0, "refused:%s", diag_text());
	ck_assert_ptr_eq(sw_register_find(reg, "scanner-hq@contoso.com"), &reg->entries[0]);
	ck_assert_ptr_eq(sw_register_find(reg, "SCANNER-HQ@CONTOSO.COM"), &reg->entries[0]);
	ck_assert_ptr_eq(sw_register_find(reg, "Erp-Notify@Contoso.Com"), &reg->entries[1]);
	ck_assert_ptr_null(sw_register_find(reg, "scanner2@contoso.com"));
	ck_assert_ptr_null(sw_register_find(reg, "scanner-hq@contoso.co"));
	ck_assert_ptr_null(sw_register_find(reg, NULL));
}
END_TEST

START_TEST(errors_with_lines)
{
	static const struct {
		int line;
		const char *frag;
	} want[] = {
		{ 3, "expires: invalid date \"2027-13-01\"" },
		{ 5, "[exception printer@contoso.com]: expires is required" },
		{ 10, "expires 2028-01-01 is more than 90d ahead (max_exception_lifetime)" },
		{ 11, "allowed_ips: invalid address or CIDR \"203.0.113.0/33\"" },
		{ 11, "allowed_ips: invalid address or CIDR \"2001:db8::/129\"" },
		{ 11, "allowed_ips: invalid address or CIDR \"bogus\"" },
		{ 12, "max_daily_messages: expected a positive integer, not \"lots\"" },
		{ 13, "unknown key \"colour\" in [exception fax@contoso.com]" },
		{ 15, "duplicate exception for scanner@contoso.com (first at line 1)" },
		{ 18, "\"scanner\" is not an email address" },
		{ 19, "unknown section [mailbox a@contoso.com]" },
		{ 23, "duplicate key \"owner\" in [exception ok@contoso.com] (first at line 22)" },
	};

	ck_assert_int_eq(load_data("errors.conf", NOW), -EINVAL);
	ck_assert_ptr_null(reg);
	ck_assert_msg(diag.n == sizeof(want) / sizeof(want[0]), "got:%s", diag_text());
	ck_assert_uint_eq(diag.n_errors, diag.n);
	for (size_t i = 0; i < diag.n; i++) {
		ck_assert_str_eq(diag.items[i].source, path);
		ck_assert_msg(diag.items[i].line == want[i].line && strstr(diag.items[i].text, want[i].frag),
		              "item %zu: want %d: %s; got:%s", i, want[i].line, want[i].frag, diag_text());
	}
}
END_TEST

static const struct {
	const char *text;
	int line;
	const char *frag;
} bad[] = {
	{ "[exception a@contoso.com]\nowner = x\n", 1, "expires is required" },
	{ "[exception a@contoso.com]\nexpires = 31.01.2027\n", 2, "expires: invalid date \"31.01.2027\"" },
	{ "[exception a@contoso.com]\nexpires = 2027-02-29\n", 2, "expires: invalid date \"2027-02-29\"" },
	{ "[exception a@contoso.com]\nexpires =\n", 2, "expires: empty value" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nallowed_ips = 203.0.113.0/28,\n", 3,
	  "allowed_ips: empty entry" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nallowed_ips = 203.0.113.0/28 198.51.100.0/24\n", 3,
	  "invalid address or CIDR \"203.0.113.0/28 198.51.100.0/24\"" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nallowed_ips = 0.0.0.0/0\n", 3,
	  "allowed_ips = 0.0.0.0/0 covers every IPv4 address, which turns the IP check off" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nallowed_ips = ::/0\n", 3, "covers every IPv6 address" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nallowed_ips = 128.0.0.0/1, 0.0.0.0/1\n", 3,
	  "covers every IPv4 address" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nallowed_ips = 192.0.0.0/2, 0.0.0.0/1, 10.0.0.0/8, "
	  "128.0.0.0/2\n", 3, "covers every IPv4 address" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nallowed_ips = 2001:db8::/32, 0.0.0.0/0\n", 3,
	  "covers every IPv4 address" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nallowed_ips = 8000::/1, 203.0.113.0/28, ::/1\n", 3,
	  "covers every IPv6 address" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nmax_daily_messages = 0\n", 3,
	  "max_daily_messages: expected a positive integer, not \"0\"" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nmax_daily_messages = -5\n", 3,
	  "max_daily_messages: expected a positive integer" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\ncriticality = urgent\n", 3,
	  "criticality: expected low, medium, high or critical, not \"urgent\"" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\ncriticality = High\n", 3,
	  "criticality: expected low, medium, high or critical" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nmigration = in progress\n", 3,
	  "migration: expected planned, in-progress, blocked or done, not \"in progress\"" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nmigration =\n", 3, "migration: empty value" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\ndevice = a\ndevice = b\n", 4,
	  "duplicate key \"device\"" },
	{ "[exception]\n", 1, "needs a mailbox" },
	{ "[exception a@b]\n", 1, "\"a@b\" is not an email address" },
	{ "[exception @contoso.com]\n", 1, "is not an email address" },
	{ "[exception a@@contoso.com]\n", 1, "is not an email address" },
	{ "[exception a b@contoso.com]\n", 1, "is not an email address" },
	{ "[exceptions a@contoso.com]\n", 1, "unknown section [exceptions a@contoso.com]" },
	{ "expires = 2027-01-31\n", 1, "outside of any [section]" },
	{ "[exception a@contoso.com]\nexpires = 2027-01-31\nExpires = 2027-01-31\n", 3, "unknown key \"Expires\"" },
};

START_TEST(invalid_entry_reports_line)
{
	int r = load_text(bad[_i].text, NOW);

	ck_assert_msg(r == -EINVAL, "case %d accepted:%s", _i, diag_text());
	ck_assert_ptr_null(reg);
	ck_assert_msg(has_diag(false, bad[_i].line, bad[_i].frag), "case %d: want %d: %s; got:%s", _i, bad[_i].line,
	              bad[_i].frag, diag_text());
	ck_assert_msg(diag.n_errors == 1, "case %d: %zu errors:%s", _i, diag.n_errors, diag_text());
}
END_TEST

/* Lists that leave a gap somewhere are real restrictions, accepted as
 * they are; host bits are a warning and read as the network. */
START_TEST(allowed_ips_partial_and_host_bits)
{
	const struct sw_exception *e;
	char buf[INET6_ADDRSTRLEN];

	ck_assert_msg(load_text("[exception a@contoso.com]\nexpires = 2027-01-31\nowner = x\n"
	                        "allowed_ips = 0.0.0.0/1, 128.0.0.0/2, 192.0.0.0/3, 224.0.0.1\n"
	                        "[exception b@contoso.com]\nexpires = 2027-01-31\nowner = x\n"
	                        "allowed_ips = ::/1, 8000::/2, 0.0.0.0/1, ::ffff:0:0/96\n",
	                        NOW) == 0,
	              "refused:%s", diag_text());
	ck_assert_msg(diag.n == 0, "unexpected:%s", diag_text());
	ck_assert(!sw_exception_ip_allowed(&reg->entries[0], "240.0.0.1"));
	ck_assert(!sw_exception_ip_allowed(&reg->entries[1], "c000::1"));
	sw_register_free(reg);
	reg = NULL;
	unlink(tmp);
	tmp[0] = '\0';

	ck_assert_msg(load_text("[exception a@contoso.com]\nexpires = 2027-01-31\nowner = x\n"
	                        "allowed_ips = 203.0.113.5/24, 2001:db8:10::1/48, 198.51.100.7\n",
	                        NOW) == 0,
	              "refused:%s", diag_text());
	ck_assert_msg(diag.n == 2 && diag.n_errors == 0, "got:%s", diag_text());
	ck_assert_msg(has_diag(true, 4, "allowed_ips: 203.0.113.5/24 has host bits set; read as 203.0.113.0/24"),
	              "got:%s", diag_text());
	ck_assert_msg(has_diag(true, 4, "allowed_ips: 2001:db8:10::1/48 has host bits set; read as 2001:db8:10::/48"),
	              "got:%s", diag_text());
	e = sw_register_find(reg, "a@contoso.com");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->n_allowed_ips, 3);
	ck_assert_str_eq(inet_ntop(AF_INET, e->allowed_ips[0].addr, buf, sizeof(buf)), "203.0.113.0");
	ck_assert(sw_exception_ip_allowed(e, "203.0.113.200"));
	ck_assert(!sw_exception_ip_allowed(e, "203.0.114.5"));
}
END_TEST

/* 100,000 entries (issue 21 #15: the duplicate check was quadratic): every
 * one is found in any case, a duplicate far down names the first line,
 * and a mailbox that is not there is not found.  Correctness at size, not
 * timing (bench/bench_register prints the load time). */
START_TEST(large_register)
{
	enum { N = 100000, LINES = 3 };
	char name[64];
	const struct sw_exception *e;
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "/tmp/sw-test-register-XXXXXX");
	fd = mkstemp(tmp);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < N; i++)
		fprintf(f, "[exception Device-%06d@contoso.com]\nowner = x\nexpires = 2027-01-31\n", i);
	fprintf(f, "[exception device-054321@CONTOSO.com]\nowner = y\nexpires = 2027-01-31\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s", tmp);

	ck_assert_int_eq(sw_register_load(path, LIFETIME, NOW, &reg, &diag), -EINVAL);
	ck_assert_msg(diag.n == 1, "got %zu problems", diag.n);
	ck_assert_int_eq(diag.items[0].line, N * LINES + 1);
	ck_assert_str_eq(diag.items[0].text, "duplicate exception for device-054321@contoso.com (first at line 162964)");
	sw_diag_clear(&diag);
	memset(&diag, 0, sizeof(diag));

	ck_assert_int_eq(truncate(path, (off_t)N * (off_t)strlen("[exception Device-000000@contoso.com]\nowner = x\n"
	                                                         "expires = 2027-01-31\n")),
	                 0);
	ck_assert_msg(sw_register_load(path, LIFETIME, NOW, &reg, &diag) == 0, "refused:%s", diag_text());
	ck_assert_uint_eq(reg->n, N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), i % 2 ? "DEVICE-%06d@CONTOSO.COM" : "device-%06d@contoso.com", i);
		e = sw_register_find(reg, name);
		ck_assert_msg(e == &reg->entries[i], "%s", name);
		ck_assert_int_eq(e->line, i * LINES + 1);
	}
	ck_assert_ptr_null(sw_register_find(reg, "device-100000@contoso.com"));
	ck_assert_ptr_null(sw_register_find(reg, "device-00001@contoso.com"));
}
END_TEST

/* The inventory keys: what sends, how much it matters, how far its move
 * to OAuth is; each optional. */
START_TEST(inventory_keys)
{
	const struct sw_exception *e;

	ck_assert_msg(load_text("[exception scanner@contoso.com]\nowner = facilities@contoso.com\n"
	                        "expires = 2027-01-31\ndevice = Ricoh MP C3004\ncriticality = high\n"
	                        "migration = in-progress\nmigration_note = firmware 3.1 adds OAuth, CHG-11020\n"
	                        "[exception plain@contoso.com]\nowner = it@contoso.com\nexpires = 2027-01-31\n"
	                        "criticality = critical\nmigration = blocked\n",
	                        NOW) == 0,
	              "refused:%s", diag_text());
	ck_assert_msg(diag.n == 0, "unexpected:%s", diag_text());
	e = sw_register_find(reg, "scanner@contoso.com");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->device, "Ricoh MP C3004");
	ck_assert_int_eq(e->criticality, SW_CRIT_HIGH);
	ck_assert_int_eq(e->migration, SW_MIG_IN_PROGRESS);
	ck_assert_str_eq(e->migration_note, "firmware 3.1 adds OAuth, CHG-11020");
	ck_assert_str_eq(sw_criticality_name(e->criticality), "high");
	ck_assert_str_eq(sw_migration_name(e->migration), "in-progress");
	e = sw_register_find(reg, "plain@contoso.com");
	ck_assert_ptr_null(e->device);
	ck_assert_ptr_null(e->migration_note);
	ck_assert_int_eq(e->criticality, SW_CRIT_CRITICAL);
	ck_assert_int_eq(e->migration, SW_MIG_BLOCKED);
	sw_register_free(reg);
	reg = NULL;

	/* Absent keys are NONE, named "" (an empty cell in the inventory). */
	ck_assert_int_eq(load_text("[exception a@contoso.com]\nowner = x@contoso.com\nexpires = 2027-01-31\n", NOW), 0);
	e = &reg->entries[0];
	ck_assert_int_eq(e->criticality, SW_CRIT_NONE);
	ck_assert_int_eq(e->migration, SW_MIG_NONE);
	ck_assert_str_eq(sw_criticality_name(e->criticality), "");
	ck_assert_str_eq(sw_migration_name(SW_MIG_DONE), "done");
	ck_assert_str_eq(sw_migration_name(SW_MIG_PLANNED), "planned");
	ck_assert_str_eq(sw_criticality_name(SW_CRIT_LOW), "low");
	ck_assert_str_eq(sw_criticality_name(SW_CRIT_MEDIUM), "medium");
}
END_TEST

START_TEST(expired_is_a_warning_only)
{
	ck_assert_msg(load_data("expired.conf", NOW) == 0, "refused:%s", diag_text());
	ck_assert_uint_eq(diag.n_errors, 0);
	ck_assert_uint_eq(diag.n, 2);
	ck_assert_msg(has_diag(true, 3, "exception old-scanner@contoso.com expired on 2026-10-01"), "got:%s",
	              diag_text());
	ck_assert_msg(has_diag(true, 5, "exception ownerless@contoso.com has no owner"), "got:%s", diag_text());
	ck_assert_uint_eq(reg->n, 2);
	ck_assert(!sw_exception_active(sw_register_find(reg, "old-scanner@contoso.com"), NOW));
	ck_assert(sw_exception_active(sw_register_find(reg, "ownerless@contoso.com"), NOW));
}
END_TEST

START_TEST(lifetime_boundary)
{
	/* erp-notify expires 2027-02-19, valid until 2027-02-20T00:00Z: exactly
	 * 90 days after 2026-11-22T00:00Z, one second too many the second before */
	ck_assert_msg(load_data("valid.conf", MIDNIGHT_22) == 0, "refused:%s", diag_text());
	sw_register_free(reg);
	reg = NULL;
	ck_assert_int_eq(load_data("valid.conf", MIDNIGHT_22 - 1), -EINVAL);
	ck_assert_msg(has_diag(false, 14, "expires 2027-02-19 is more than 90d ahead (max_exception_lifetime)"),
	              "got:%s", diag_text());
	ck_assert_uint_eq(diag.n_errors, 1);
}
END_TEST

START_TEST(empty_and_missing)
{
	ck_assert_int_eq(sw_register_load(NULL, LIFETIME, NOW, &reg, &diag), 0);
	ck_assert_ptr_nonnull(reg);
	ck_assert_uint_eq(reg->n, 0);
	ck_assert_ptr_null(sw_register_find(reg, "a@contoso.com"));
	sw_register_free(reg);
	reg = NULL;

	ck_assert_int_eq(load_text("; nothing approved yet\n", NOW), 0);
	ck_assert_uint_eq(reg->n, 0);
	sw_register_free(reg);
	reg = NULL;

	ck_assert_int_eq(sw_register_load("/nonexistent/exceptions.conf", LIFETIME, NOW, &reg, &diag), -ENOENT);
	ck_assert_ptr_null(reg);
	ck_assert_uint_eq(diag.n, 1);
	ck_assert_str_eq(diag.items[0].source, "/nonexistent/exceptions.conf");
	ck_assert_int_eq(diag.items[0].line, 0);
	ck_assert_str_eq(diag.items[0].text, "cannot read: No such file or directory");
}
END_TEST

static const struct {
	const char *cidr;
	const char *ip;
	bool match;
} matches[] = {
	{ "0.0.0.0/0", "198.51.100.7", true },
	{ "0.0.0.0/0", "255.255.255.255", true },
	{ "0.0.0.0/0", "2001:db8::1", false },
	{ "::/0", "2001:db8::1", true },
	{ "::/0", "198.51.100.7", false },
	{ "203.0.113.5/32", "203.0.113.5", true },
	{ "203.0.113.5/32", "203.0.113.4", false },
	{ "203.0.113.5", "203.0.113.5", true },
	{ "203.0.113.5", "203.0.113.6", false },
	{ "203.0.113.0/28", "203.0.113.0", true },
	{ "203.0.113.0/28", "203.0.113.15", true },
	{ "203.0.113.0/28", "203.0.113.16", false },
	{ "203.0.113.0/28", "203.0.112.255", false },
	{ "203.0.113.7/28", "203.0.113.0", true }, /* host bits masked */
	{ "10.0.0.0/9", "10.127.255.255", true },
	{ "10.0.0.0/9", "10.128.0.0", false },
	{ "10.0.0.0/8", "::ffff:10.1.2.3", true }, /* IPv4-mapped */
	{ "10.0.0.0/8", "garbage", false },
	{ "10.0.0.0/8", "", false },
	{ "10.0.0.0/8", "10.0.0.1/32", false },
	{ "2001:db8::1/128", "2001:db8::1", true },
	{ "2001:db8::1/128", "2001:db8::2", false },
	{ "2001:db8::1", "2001:db8:0:0:0:0:0:1", true },
	{ "2001:db8:10::/48", "2001:db8:10::", true },
	{ "2001:db8:10::/48", "2001:db8:10:ffff:ffff:ffff:ffff:ffff", true },
	{ "2001:db8:10::/48", "2001:DB8:10:1::1", true },
	{ "2001:db8:10::/48", "2001:db8:11::", false },
	{ "2001:db8:10::/48", "2001:db8:f:ffff:ffff:ffff:ffff:ffff", false },
	{ "2001:db8:10::/48", "203.0.113.1", false },
	{ "2001:db8:10:8000::/49", "2001:db8:10:8000::1", true },
	{ "2001:db8:10:8000::/49", "2001:db8:10:7fff::1", false },
};

START_TEST(cidr_match_table)
{
	struct sw_cidr c;

	ck_assert_int_eq(sw_cidr_parse(matches[_i].cidr, &c), 0);
	ck_assert_msg(sw_cidr_match(&c, matches[_i].ip) == matches[_i].match, "%s in %s: want %d", matches[_i].ip,
	              matches[_i].cidr, matches[_i].match);
}
END_TEST

START_TEST(cidr_parse)
{
	static const char *const invalid[] = {
		"203.0.113.0/33", "2001:db8::/129", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/ 8", "1.2.3.4/8 ", "/8",
		"1.2.3", "1.2.3.4/08", "1.2.3.4/8/9", "fe80::1%eth0", "1.2.3.256", "", "2001:db8::/4x",
	};
	struct sw_cidr c;
	char buf[INET6_ADDRSTRLEN];

	ck_assert_int_eq(sw_cidr_parse("203.0.113.77/26", &c), 0);
	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_int_eq(c.prefix, 26);
	ck_assert_str_eq(inet_ntop(AF_INET, c.addr, buf, sizeof(buf)), "203.0.113.64");
	ck_assert_int_eq(sw_cidr_parse("2001:db8:10:abcd::1/52", &c), 0);
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.prefix, 52);
	ck_assert_str_eq(inet_ntop(AF_INET6, c.addr, buf, sizeof(buf)), "2001:db8:10:a000::");
	ck_assert_int_eq(sw_cidr_parse("2001:db8::5", &c), 0);
	ck_assert_int_eq(c.prefix, 128);
	ck_assert_int_eq(sw_cidr_parse("0.0.0.0/0", &c), 0);
	ck_assert_int_eq(c.prefix, 0);
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		c.prefix = 77;
		ck_assert_msg(sw_cidr_parse(invalid[i], &c) == -EINVAL, "accepted \"%s\"", invalid[i]);
		ck_assert_int_eq(c.prefix, 77);
	}
}
END_TEST

static Suite *register_suite(void)
{
	Suite *s = suite_create("register");
	TCase *tc = tcase_create("register");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, valid_entries);
	tcase_add_test(tc, shipped_example_register);
	tcase_add_test(tc, find_is_case_insensitive);
	tcase_add_test(tc, errors_with_lines);
	tcase_add_loop_test(tc, invalid_entry_reports_line, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, allowed_ips_partial_and_host_bits);
	tcase_add_test(tc, large_register);
	tcase_add_test(tc, inventory_keys);
	tcase_add_test(tc, expired_is_a_warning_only);
	tcase_add_test(tc, lifetime_boundary);
	tcase_add_test(tc, empty_and_missing);
	tcase_add_loop_test(tc, cidr_match_table, 0, sizeof(matches) / sizeof(matches[0]));
	tcase_add_test(tc, cidr_parse);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(register_suite)
