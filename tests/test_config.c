/* test_config.c: smtpwatch.conf parsing, defaults, FILE:LINE diagnostics, secrets. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "config.h"
#include "fixture.h"

/* Secret contents the fixture writes: none may ever appear in a message. */
#define SECRET_CONTOSO "s3cr3t~contoso-Value_0123456789"
#define SECRET_URL "https://hooks.example.com/services/T000/B000/XXXXtopsecretXXXX"
#define SECRET_TOKEN "9c1f4a2e-hec-token-topsecret"
#define SECRET_KEY "hmac-key-topsecret"
#define PEM_TEXT "-----BEGIN CERTIFICATE-----\nMIIB-topsecret\n-----END CERTIFICATE-----\n"

static const char *const secrets[] = { SECRET_CONTOSO, SECRET_URL, SECRET_TOKEN, SECRET_KEY, "MIIB-topsecret",
	                                "hooks.example.com/x-plain" };

static char dir[256];
static char conf[512];
static struct sw_config *cfg;
static struct sw_diag diag;

/* Write a file in the temporary directory with the given mode. */
static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* A temporary directory holding secret files with mode 0600. */
static void setup(void)
{
	fixture_tmpdir(dir, sizeof(dir), "test-config");
	snprintf(conf, sizeof(conf), "%s/smtpwatch.conf", dir);
	write_file("contoso.secret", SECRET_CONTOSO "\n", 0600);
	write_file("soc.url", SECRET_URL "\n", 0600);
	write_file("hec.token", SECRET_TOKEN "\r\n", 0600);
	write_file("soc.key", SECRET_KEY, 0600);
	write_file("fabrikam.pem", PEM_TEXT, 0600);
	write_file("open.pem", PEM_TEXT, 0644);
	write_file("plain.url", "http://hooks.example.com/x-plain\n", 0600);
	cfg = NULL;
	memset(&diag, 0, sizeof(diag));
}

static void teardown(void)
{
	sw_config_free(cfg);
	cfg = NULL;
	sw_diag_clear(&diag);
	fixture_rmtree(dir);
}

/* Assert that no diagnostic quotes a secret. */
static void assert_no_secret_in_diag(void)
{
	for (size_t i = 0; i < diag.n; i++)
		for (size_t j = 0; j < sizeof(secrets) / sizeof(secrets[0]); j++)
			ck_assert_msg(strstr(diag.items[i].text, secrets[j]) == NULL, "secret printed: %s",
			              diag.items[i].text);
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

/* Is there an error at this line of the config whose text holds frag? */
static bool has_error(int line, const char *frag)
{
	for (size_t i = 0; i < diag.n; i++)
		if (!diag.items[i].warning && diag.items[i].line == line && strcmp(diag.items[i].source, conf) == 0 &&
		    strstr(diag.items[i].text, frag) != NULL)
			return true;
	return false;
}

/* Load text as the config file in the temporary directory. */
static int load_text(const char *text)
{
	write_file("smtpwatch.conf", text, 0644);
	return sw_config_load(conf, &cfg, &diag);
}

/* Copy a file from tests/data/config into the temporary directory and load it. */
static int load_data(const char *name)
{
	const char *data = getenv("SW_TEST_DATA");
	char path[512], text[16384];
	size_t n;
	FILE *f;

	ck_assert_ptr_nonnull(data);
	snprintf(path, sizeof(path), "%s/config/%s", data, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return load_text(text);
}

/* A path inside the temporary directory. */
static const char *in_dir(const char *name)
{
	static char buf[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

START_TEST(full_config_every_field)
{
	const struct sw_tenant_config *t;
	const struct sw_sink_config *s;

	ck_assert_msg(load_data("full.conf") == 0, "full.conf refused:%s", diag_text());
	ck_assert_msg(diag.n == 0, "unexpected diagnostics:%s", diag_text());
	ck_assert_str_eq(cfg->path, conf);

	ck_assert_str_eq(cfg->daemon.state_dir, in_dir("state"));
	ck_assert_str_eq(cfg->daemon.socket, "/run/sw-test/control.sock");
	ck_assert_str_eq(cfg->daemon.socket_group, "smtpwatch-ops");
	ck_assert_int_eq(cfg->daemon.retention, 180 * 86400);
	ck_assert_int_eq(cfg->daemon.dead_after, 2 * 86400);

	ck_assert_uint_eq(cfg->n_tenants, 2);
	t = sw_config_tenant(cfg, "contoso");
	ck_assert_ptr_eq(t, &cfg->tenants[0]);
	ck_assert_int_eq(t->line, 12);
	ck_assert_str_eq(t->tenant_id, "contoso.onmicrosoft.com");
	ck_assert_str_eq(t->client_id, "11111111-2222-3333-4444-555555555555");
	ck_assert_str_eq(t->client_secret_file, in_dir("contoso.secret"));
	ck_assert_str_eq(t->client_secret, SECRET_CONTOSO);
	ck_assert_ptr_null(t->certificate_file);
	ck_assert_str_eq(t->assertion_alg, "RS256");
	ck_assert_str_eq(t->login_url, "https://login.microsoftonline.us"); /* trailing '/' dropped */
	ck_assert_str_eq(t->graph_url, "https://graph.microsoft.us");
	ck_assert_str_eq(t->exchange_url, "https://outlook.office365.us");
	ck_assert_int_eq(t->signins_interval, 600);
	ck_assert_int_eq(t->signins_lookback, 3 * 3600);
	ck_assert_int_eq(t->initial_backfill, 7 * 86400);
	ck_assert_int_eq(t->config_interval, 1800);
	ck_assert_str_eq(t->report_spool, in_dir("reports/contoso"));
	ck_assert_str_eq(t->exceptions, "/etc/smtpwatch/exceptions/contoso.conf");

	t = sw_config_tenant(cfg, "fabrikam-gov");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->certificate_file, in_dir("fabrikam.pem"));
	ck_assert_ptr_null(t->client_secret_file);
	ck_assert_ptr_null(t->client_secret);
	ck_assert_str_eq(t->assertion_alg, "PS256");
	ck_assert_ptr_null(t->report_spool);
	ck_assert_ptr_null(t->exceptions);
	ck_assert_ptr_null(sw_config_tenant(cfg, "Contoso"));
	ck_assert_ptr_null(sw_config_tenant(cfg, "nope"));

	ck_assert_int_eq(cfg->rules.spray_failures, 30);
	ck_assert_int_eq(cfg->rules.spray_users, 8);
	ck_assert_int_eq(cfg->rules.spray_window, 1800);
	ck_assert_int_eq(cfg->rules.bruteforce_failures, 12);
	ck_assert_int_eq(cfg->rules.bruteforce_window, 1200);
	ck_assert_int_eq(cfg->rules.unused_after, 45 * 86400);
	ck_assert_int_eq(cfg->rules.expiring_within, 21 * 86400);
	ck_assert_int_eq(cfg->rules.max_exception_lifetime, 60 * 86400);
	ck_assert_int_eq(cfg->rules.stale_after, 4 * 3600);

	ck_assert_uint_eq(cfg->n_sinks, 5);
	s = &cfg->sinks[0];
	ck_assert_str_eq(s->name, "soc");
	ck_assert_int_eq(s->type, SW_SINK_WEBHOOK);
	ck_assert_str_eq(s->url_file, in_dir("soc.url"));
	ck_assert_str_eq(s->url, SECRET_URL);
	ck_assert_str_eq(s->hmac_key_file, in_dir("soc.key"));
	ck_assert_uint_eq(s->hmac_key_len, strlen(SECRET_KEY));
	ck_assert_mem_eq(s->hmac_key, SECRET_KEY, strlen(SECRET_KEY));
	ck_assert_int_eq(s->min_severity, SW_SEV_MEDIUM);
	ck_assert_ptr_null(s->rules);

	s = &cfg->sinks[1];
	ck_assert_str_eq(s->name, "teams");
	ck_assert_int_eq(s->type, SW_SINK_TEAMS);
	ck_assert_str_eq(s->url, "https://contoso.webhook.office.com/webhookb2/abc;def");
	ck_assert_int_eq(s->min_severity, SW_SEV_HIGH);
	ck_assert_ptr_nonnull(s->rules);
	ck_assert_str_eq(s->rules[0], "unapproved-basic-auth-submission");
	ck_assert_str_eq(s->rules[1], "smtp-auth-password-spray");
	ck_assert_ptr_null(s->rules[2]);

	s = &cfg->sinks[2];
	ck_assert_int_eq(s->type, SW_SINK_SPLUNK_HEC);
	ck_assert_str_eq(s->url, "https://splunk.example.com:8088/services/collector/event");
	ck_assert_str_eq(s->token, SECRET_TOKEN); /* CRLF stripped */
	ck_assert_int_eq(s->min_severity, SW_SEV_LOW);

	s = &cfg->sinks[3];
	ck_assert_int_eq(s->type, SW_SINK_SYSLOG);
	ck_assert_str_eq(s->address, "udp://[2001:db8::5]:514");
	ck_assert(s->allow_cleartext);
	ck_assert_int_eq(s->facility, 19);

	s = &cfg->sinks[4];
	ck_assert_str_eq(s->name, "journal");
	ck_assert_int_eq(s->type, SW_SINK_JOURNAL);
	ck_assert_int_eq(s->min_severity, SW_SEV_CRITICAL);
	ck_assert_ptr_null(s->url);
}
END_TEST

START_TEST(shipped_example_config)
{
	/* conf/smtpwatch.conf with its /etc/smtpwatch/ secrets in the temporary
	 * directory: it must load without a single diagnostic */
	const char *data = getenv("SW_TEST_DATA");
	char path[512], text[16384], out[16384];
	const char *p, *hit;
	size_t n, o = 0;
	FILE *f;

	ck_assert_ptr_nonnull(data);
	snprintf(path, sizeof(path), "%s/../../conf/smtpwatch.conf", data);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (p = text; (hit = strstr(p, "/etc/smtpwatch/")) != NULL; p = hit + strlen("/etc/smtpwatch/")) {
		memcpy(out + o, p, (size_t)(hit - p));
		o += (size_t)(hit - p);
	}
	snprintf(out + o, sizeof(out) - o, "%s", p);
	write_file("teams.url", "https://prod-00.westeurope.logic.azure.com/workflows/x?sig=y\n", 0600);
	ck_assert_msg(load_text(out) == 0, "the example config is refused:%s", diag_text());
	ck_assert_msg(diag.n == 0, "diagnostics on the example:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenants, 1);
	ck_assert_str_eq(cfg->tenants[0].client_secret, SECRET_CONTOSO);
	ck_assert_str_eq(cfg->tenants[0].exceptions, in_dir("exceptions/contoso.conf"));
	ck_assert_int_eq(cfg->tenants[0].signins_lookback, 7200);
	ck_assert_int_eq(cfg->daemon.retention, 400 * 86400);
	ck_assert_int_eq(cfg->rules.max_exception_lifetime, 90 * 86400);
	ck_assert_uint_eq(cfg->n_sinks, 5);
	ck_assert_str_eq(cfg->sinks[0].url, SECRET_URL);
	ck_assert_int_eq(cfg->sinks[1].type, SW_SINK_TEAMS);
	ck_assert_str_eq(cfg->sinks[1].rules[2], "unapproved-basic-auth-submission");
	ck_assert_int_eq(cfg->sinks[3].facility, 10);
	ck_assert_int_eq(cfg->sinks[4].type, SW_SINK_JOURNAL);
}
END_TEST

START_TEST(minimal_config_defaults)
{
	const struct sw_tenant_config *t;
	const struct sw_sink_config *s;

	ck_assert_msg(load_data("minimal.conf") == 0, "minimal.conf refused:%s", diag_text());
	ck_assert_uint_eq(diag.n, 0);
	ck_assert_str_eq(cfg->daemon.state_dir, "/var/lib/smtpwatch");
	ck_assert_str_eq(cfg->daemon.socket, "/run/smtpwatch/control.sock");
	ck_assert_str_eq(cfg->daemon.socket_group, "smtpwatch");
	ck_assert_int_eq(cfg->daemon.retention, 400 * 86400);
	ck_assert_int_eq(cfg->daemon.dead_after, 3 * 86400);

	ck_assert_uint_eq(cfg->n_tenants, 1);
	t = &cfg->tenants[0];
	ck_assert_str_eq(t->name, "contoso");
	ck_assert_int_eq(t->line, 2);
	ck_assert_str_eq(t->assertion_alg, "PS256");
	ck_assert_str_eq(t->login_url, "https://login.microsoftonline.com");
	ck_assert_str_eq(t->graph_url, "https://graph.microsoft.com");
	ck_assert_str_eq(t->exchange_url, "https://outlook.office365.com");
	ck_assert_int_eq(t->signins_interval, 300);
	ck_assert_int_eq(t->signins_lookback, 7200);
	ck_assert_int_eq(t->initial_backfill, 7 * 86400);
	ck_assert_int_eq(t->config_interval, 3600);
	ck_assert(!t->audit);
	ck_assert_str_eq(t->manage_url, "https://manage.office.com");
	ck_assert_int_eq(t->audit_interval, 15 * 60);
	ck_assert(t->usage);
	ck_assert_int_eq(t->usage_interval, 86400);
	ck_assert(!t->trace);
	ck_assert_int_eq(t->trace_interval, 3600);
	ck_assert_int_eq(t->remediation, SW_REMEDIATION_OFF);
	ck_assert_int_eq(t->remediation_max_per_hour, 10);
	ck_assert_ptr_nonnull(t->remediate_rules);
	ck_assert_str_eq(t->remediate_rules[0], "unapproved-mailbox-exception");
	ck_assert_str_eq(t->remediate_rules[1], "exception-expired");
	ck_assert_ptr_null(t->remediate_rules[2]);
	ck_assert_ptr_null(t->remediation_client_id);
	ck_assert_ptr_null(t->remediation_client_secret);
	ck_assert_ptr_null(t->report_spool);
	ck_assert_ptr_null(t->exceptions);

	ck_assert_int_eq(cfg->rules.spray_failures, 20);
	ck_assert_int_eq(cfg->rules.spray_users, 5);
	ck_assert_int_eq(cfg->rules.spray_window, 900);
	ck_assert_int_eq(cfg->rules.bruteforce_failures, 10);
	ck_assert_int_eq(cfg->rules.bruteforce_window, 900);
	ck_assert_int_eq(cfg->rules.unused_after, 30 * 86400);
	ck_assert_int_eq(cfg->rules.expiring_within, 14 * 86400);
	ck_assert_int_eq(cfg->rules.max_exception_lifetime, 90 * 86400);
	ck_assert_int_eq(cfg->rules.stale_after, 3 * 3600);

	ck_assert_uint_eq(cfg->n_sinks, 1);
	s = &cfg->sinks[0];
	ck_assert_int_eq(s->line, 7);
	ck_assert_int_eq(s->type, SW_SINK_SYSLOG);
	ck_assert_str_eq(s->address, "unix:/dev/log");
	ck_assert_int_eq(s->facility, 10); /* authpriv */
	ck_assert_int_eq(s->min_severity, SW_SEV_INFO);
	ck_assert_ptr_null(s->rules);
}
END_TEST

/* Lines shared by the cases below: a tenant that is valid on its own. */
#define TENANT                                                                                                 \
	"[tenant contoso]\n"                                                                                   \
	"tenant_id = contoso.onmicrosoft.com\n"                                                                \
	"client_id = 11111111-2222-3333-4444-555555555555\n"                                                   \
	"client_secret_file = contoso.secret\n"

#define LONG50 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct {
	const char *text;
	int line;
	const char *frag;
} bad[] = {
	{ "[daemon]\nretention = forever\n", 2, "retention: invalid duration \"forever\"" },
	{ TENANT "signins_interval = 5x\n", 5, "signins_interval: invalid duration \"5x\"" },
	{ TENANT "signins_interval = 0\n", 5, "signins_interval: must be longer than 0" },
	{ TENANT "config_interval = -1h\n", 5, "config_interval: invalid duration \"-1h\"" },
	{ "\n[tenant contoso]\nclient_id = x\nclient_secret_file = contoso.secret\n", 2,
	  "[tenant contoso]: tenant_id is required" },
	{ "[tenant contoso]\ntenant_id = x\nclient_secret_file = contoso.secret\n", 1,
	  "[tenant contoso]: client_id is required" },
	{ "[tenant contoso]\ntenant_id = x\nclient_id = y\n", 1,
	  "[tenant contoso]: client_secret_file or certificate_file is required" },
	{ TENANT "certificate_file = fabrikam.pem\n", 5, "either client_secret_file or certificate_file, not both" },
	{ TENANT "foo = bar\n", 5, "unknown key \"foo\" in [tenant contoso]" },
	{ TENANT "tenant_id = again\n", 5, "duplicate key \"tenant_id\" in [tenant contoso] (first at line 2)" },
	{ TENANT "tenant_id2 =\n", 5, "unknown key \"tenant_id2\"" },
	{ "[tenant contoso]\ntenant_id =\nclient_id = y\nclient_secret_file = contoso.secret\n", 2,
	  "tenant_id: empty value" },
	{ TENANT "graph_url = http://graph.example.com\n", 5, "graph_url: http:// is only allowed for loopback hosts" },
	{ TENANT "manage_url = https://manage.example.com\n", 5,
	  "manage_url: \"https://manage.example.com\" is not a Management Activity API host" },
	{ TENANT "manage_url = https://manage.office.com/api/v1.0\n", 5, "is not a Management Activity API host" },
	{ TENANT "manage_url = http://manage.office.com\n", 5, "manage_url: http:// is only allowed for loopback hosts" },
	{ TENANT "audit = maybe\n", 5, "audit: expected yes or no, not \"maybe\"" },
	{ TENANT "audit_interval = 0\n", 5, "audit_interval: must be longer than 0" },
	{ TENANT "usage = sometimes\n", 5, "usage: expected yes or no, not \"sometimes\"" },
	{ TENANT "usage_interval = 0\n", 5, "usage_interval: must be longer than 0" },
	{ TENANT "trace = 2\n", 5, "trace: expected yes or no, not \"2\"" },
	{ TENANT "remediation = yes\n", 5, "remediation: expected off, manual or auto, not \"yes\"" },
	{ TENANT "remediate_rules = exception-expired, smtp-auth-password-spray\n", 5,
	  "remediate_rules: \"smtp-auth-password-spray\" is not a rule remediation acts on" },
	{ TENANT "remediate_rules = tenant-smtp-auth-enabled\n", 5,
	  "remediate_rules: tenant-smtp-auth-enabled is never remediated automatically" },
	{ TENANT "remediate_rules = *\n", 5, "remediate_rules: \"*\" is not a rule remediation acts on" },
	{ TENANT "remediation_max_per_hour = 0\n", 5, "remediation_max_per_hour: expected a positive integer" },
	{ TENANT "remediation_client_secret_file = contoso.secret\n", 5,
	  "remediation_client_id is required with remediation_client_secret_file" },
	{ TENANT "remediation_client_id = 22222222-2222-2222-2222-222222222222\n", 5,
	  "remediation_client_id needs remediation_client_secret_file or remediation_certificate_file" },
	{ TENANT "remediation_client_id = x\nremediation_client_secret_file = contoso.secret\n"
	  "remediation_certificate_file = fabrikam.pem\n", 7,
	  "set either remediation_client_secret_file or remediation_certificate_file, not both" },
	{ TENANT "remediation_client_id = x\nremediation_certificate_file = open.pem\n", 6,
	  "remediation_certificate_file " },
	{ TENANT "remediation_client_id = x\nremediation_client_secret_file = missing.secret\n", 6,
	  "remediation_client_secret_file " },
	{ TENANT "login_url = ftp://login.example.com\n", 5, "login_url: unsupported scheme \"ftp\"" },
	{ TENANT "assertion_alg = HS256\n", 5, "assertion_alg: must be PS256 or RS256, not \"HS256\"" },
	{ TENANT "[tenant contoso]\ntenant_id = z\n", 5, "duplicate section [tenant contoso] (first at line 1)" },
	{ "[tenant contoso]\ntenant_id = x\nclient_id = y\nclient_secret_file = missing.secret\n", 4,
	  "missing.secret: No such file or directory" },
	{ "[tenant contoso]\ntenant_id = x\nclient_id = y\ncertificate_file = open.pem\n", 4,
	  "open.pem: readable by group or others (mode 0644); chmod 600 it" },
	{ "[tenant contoso]\ntenant_id = x\nclient_id = y\nclient_secret_file = .\n", 4, ": not a regular file" },
	{ "[tenant]\ntenant_id = x\n", 1, "section [tenant] needs a name: [tenant NAME]" },
	{ "[tenant con toso]\n", 1, "invalid name \"con toso\"" },
	{ "[daemon main]\n", 1, "section [daemon main] takes no name" },
	{ "[daemon]\n[daemon]\n", 2, "duplicate section [daemon] (first at line 1)" },
	{ "[foo]\nbar = baz\n", 1, "unknown section [foo]" },
	{ "[Tenant contoso]\n", 1, "unknown section [Tenant contoso]" },
	{ "[tenant contoso\n", 1, "malformed section header" },
	{ "[rules] extra\n", 1, "unexpected text after \"]\"" },
	{ "state_dir = /x\n[daemon]\n", 1, "outside of any [section]" },
	{ "[daemon]\nthis line has no equals sign\n", 2, "expected \"key = value\"" },
	{ "[daemon]\nstate_dir ; = /x\n", 2, "expected \"key = value\"" },
	{ "[daemon]\n = /x\n", 2, "missing key name" },
	{ "[daemon]\nstate_dir = /" LONG50 LONG50 LONG50 LONG50 "\n", 2, "line too long (over 200 bytes)" },
	{ "[rules]\nspray_failures = 0\n", 2, "spray_failures: expected a positive integer, not \"0\"" },
	{ "[rules]\nspray_users = 5 users\n", 2, "spray_users: expected a positive integer, not \"5 users\"" },
	{ "[rules]\nspray_users = 99999999999999999999\n", 2, "spray_users: expected a positive integer" },
	{ "[rules]\nstale_after = 3 hours\n", 2, "stale_after: invalid duration \"3 hours\"" },
	{ "[rules]\nmax_exception_lifetime = 90\nwindow = 5m\n", 3, "unknown key \"window\" in [rules]" },
	{ "[sink soc]\ntype = email\nurl = https://x.example.com/\n", 2, "[sink soc]: unknown type \"email\"" },
	{ "[sink soc]\nmin_severity = high\n", 1, "[sink soc]: type is required" },
	{ "[sink soc]\ntype = webhook\n", 1, "[sink soc]: url or url_file is required" },
	{ "[sink soc]\ntype = teams\nurl = https://x.example.com/\nurl_file = soc.url\n", 4,
	  "[sink soc]: set either url or url_file, not both" },
	{ "[sink soc]\ntype = webhook\nurl = http://hooks.example.com/x\n", 3,
	  "url: http:// is only allowed for loopback hosts" },
	{ "[sink soc]\ntype = webhook\nurl_file = plain.url\n", 3, "plain.url: http:// is only allowed for loopback" },
	{ "[sink soc]\ntype = webhook\nurl_file = missing.url\n", 3, "url_file " },
	{ "[sink hec]\ntype = splunk-hec\nurl = https://splunk.example.com:8088/\n", 1,
	  "[sink hec]: token_file is required for type splunk-hec" },
	{ "[sink soc]\ntype = webhook\nurl = https://x.example.com/\nrules = x\n", 4, "rules: unknown rule \"x\"" },
	{ "[sink soc]\ntype = webhook\nurl = https://x.example.com/\nrules = coverage-gap,,exception-unused\n", 4,
	  "rules: empty rule name" },
	{ "[sink soc]\ntype = webhook\nurl = https://x.example.com/\nrules = *, coverage-gap\n", 4,
	  "cannot be combined" },
	{ "[sink soc]\ntype = webhook\nurl = https://x.example.com/\nmin_severity = urgent\n", 4,
	  "min_severity: unknown severity \"urgent\"" },
	{ "[sink soc]\ntype = webhook\nurl = https://x.example.com/\nmin_severity = HIGH\n", 4,
	  "min_severity: unknown severity \"HIGH\"" },
	{ "[sink local]\ntype = syslog\nfacility = local9\n", 3, "facility: unknown facility \"local9\"" },
	{ "[sink local]\ntype = syslog\naddress = udp://logs.example.com\n", 3, "address: expected unix:/PATH" },
	{ "[sink local]\ntype = syslog\naddress = tcp://logs.example.com:70000\n", 3, "address: expected" },
	{ "[sink local]\ntype = syslog\naddress = unix:dev/log\n", 3, "address: expected" },
	{ "[sink local]\ntype = syslog\naddress = /dev/log\n", 3, "address: expected" },
	{ "[sink local]\ntype = syslog\naddress = udp://192.0.2.1:514\n", 3,
	  "[sink local]: address udp://192.0.2.1:514 sends alerts in clear text to another host: use tls://" },
	{ "[sink local]\ntype = syslog\naddress = tcp://[2001:db8::5]:601\nallow_cleartext = no\n", 3,
	  "sends alerts in clear text" },
	{ "[sink local]\ntype = syslog\naddress = udp://127.0.0.1:514\nca_file = /etc/hostname\n", 4,
	  "[sink local]: ca_file is used only with a tls:// address" },
	{ "[sink local]\ntype = syslog\naddress = tls://logs.example.com:6514\nca_file = /nonexistent/ca.pem\n", 4,
	  "[sink local]: ca_file /nonexistent/ca.pem: No such file" },
	{ "[sink local]\ntype = syslog\naddress = tls://logs.example.com\n", 3, "address: expected" },
	{ "[sink local]\ntype = syslog\naddress = tls://logs.example.com:6514\nca_file = /dev/null\n", 4,
	  "[sink local]: ca_file /dev/null holds no PEM certificate" },
	{ "[sink j]\ntype = journal\nurl = https://x.example.com/\n", 3, "[sink j]: url is not used by type journal" },
	{ "[sink t]\ntype = teams\nurl = https://x.example.com/\ntoken_file = hec.token\n", 4,
	  "[sink t]: token_file is not used by type teams" },
	{ "[sink s]\ntype = syslog\nhmac_key_file = soc.key\n", 3, "hmac_key_file is not used by type syslog" },
	{ "[sink w]\ntype = webhook\nurl = https://x.example.com/\nfacility = daemon\n", 4,
	  "facility is not used by type webhook" },
	{ "[sink s]\ntype = syslog\nformat = rfc5425\n", 3, "format: unknown format \"rfc5425\" (auto, rfc5424, rfc3164)" },
	{ "[sink s]\ntype = syslog\nformat = RFC5424\n", 3, "format: unknown format" },
	{ "[sink w]\ntype = webhook\nurl = https://x.example.com/\nformat = rfc5424\n", 4,
	  "format is not used by type webhook" },
	{ "[sink j]\ntype = journal\nsd_id = alerts@99999\n", 3, "sd_id is not used by type journal" },
	/* A name without '@' is for IANA-registered SD-IDs only. */
	{ "[sink s]\ntype = syslog\nsd_id = smtpwatch\n", 3, "sd_id: expected NAME@PEN" },
	{ "[sink s]\ntype = syslog\nsd_id = smtpwatch@acme\n", 3, "sd_id: expected NAME@PEN" },
	{ "[sink s]\ntype = syslog\nsd_id = @99999\n", 3, "sd_id: expected NAME@PEN" },
	{ "[sink s]\ntype = syslog\nsd_id = a@b@99999\n", 3, "sd_id: expected NAME@PEN" },
	{ "[sink s]\ntype = syslog\nsd_id = sw\"x@99999\n", 3, "sd_id: expected NAME@PEN" },
	{ "[sink s]\ntype = syslog\nsd_id = sw]@99999\n", 3, "sd_id: expected NAME@PEN" },
	{ "[sink s]\ntype = syslog\nsd_id = sw=@99999\n", 3, "sd_id: expected NAME@PEN" },
	{ "[sink s]\ntype = syslog\nsd_id = smtpwatch@99999.\n", 3, "sd_id: expected NAME@PEN" },
	{ "[sink s]\ntype = syslog\nsd_id = a-name-of-thirty-three-bytes@9999\n", 3, "at most 32 printable" },
};

/* Any PEM certificate will do for the ca_file check (a throwaway EC one). */
#define TEST_CA_PEM \
	"-----BEGIN CERTIFICATE-----\n" \
	"MIIBjjCCATWgAwIBAgIUWbn2ys5buHItCcnn0pkQ9voCy/IwCgYIKoZIzj0EAwIw\n" \
	"HDEaMBgGA1UEAwwRc210cHdhdGNoLXRlc3QtY2EwIBcNMjYxMjAzMDYwMTAwWhgP\n" \
	"MjEyNjExMDkwNjAxMDBaMBwxGjAYBgNVBAMMEXNtdHB3YXRjaC10ZXN0LWNhMFkw\n" \
	"EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEv90LNiPo2R/4fT9ZCOTzH//q8vPVfPDm\n" \
	"Fg7KeybGMJfUAwqxvlhTqVn1xZV/+iNEo5kRthZ7xVpoG2Cn33Nyj6NTMFEwHQYD\n" \
	"VR0OBBYEFKCyzBqQ6gBIvvimt6HBv/2nyqfhMB8GA1UdIwQYMBaAFKCyzBqQ6gBI\n" \
	"vvimt6HBv/2nyqfhMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIg\n" \
	"I+M4ksDRkgdgPZ8EVwMqLLsRovGs7g+IlAakeR9m8dYCIFBkyuDJ3pVYEDWej2Bb\n" \
	"maz7XGu9rDDQkbwB23a54Mln\n" \
	"-----END CERTIFICATE-----\n"

/* Syslog across the network: tls:// (with or without ca_file), cleartext
 * to this host, cleartext elsewhere only when allowed. */
START_TEST(syslog_transports)
{
	FILE *ca;

	ca = fopen(in_dir("ca.pem"), "w");
	ck_assert_ptr_nonnull(ca);
	fputs(TEST_CA_PEM, ca);
	fclose(ca);
	ck_assert_msg(load_text("[sink a]\ntype = syslog\naddress = tls://logs.example.com:6514\n\n"
	                        "[sink b]\ntype = syslog\naddress = tls://[2001:db8::5]:6514\nca_file = ca.pem\n\n"
	                        "[sink c]\ntype = syslog\naddress = udp://127.0.0.1:514\n\n"
	                        "[sink d]\ntype = syslog\naddress = tcp://[::1]:601\n\n"
	                        "[sink e]\ntype = syslog\naddress = udp://192.0.2.1:514\nallow_cleartext = yes\n") == 0,
	              "refused:%s", diag_text());
	ck_assert_str_eq(cfg->sinks[0].address, "tls://logs.example.com:6514");
	ck_assert_ptr_null(cfg->sinks[0].ca_file);
	ck_assert_str_eq(cfg->sinks[1].ca_file, in_dir("ca.pem"));
	ck_assert(!cfg->sinks[2].allow_cleartext);
	ck_assert(cfg->sinks[4].allow_cleartext);
}
END_TEST

/* format and sd_id: the defaults, what a sink sets, and a warning for the
 * documentation number (RFC 5612) that is valid syntax but nobody's. */
START_TEST(syslog_format_and_sd_id)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	ck_assert_msg(load_text("[sink a]\ntype = syslog\n\n"
	                        "[sink b]\ntype = syslog\naddress = udp://127.0.0.1:514\nformat = rfc3164\n"
	                        "sd_id = alerts@99999.1.2\n\n"
	                        "[sink c]\ntype = syslog\nformat = rfc5424\nsd_id = x@32473\n") == 0,
	              "refused:%s", diag_text());
	ck_assert_int_eq(cfg->sinks[0].format, SW_SYSLOG_AUTO);
	ck_assert_str_eq(cfg->sinks[0].sd_id, SW_SYSLOG_SD_ID_DEFAULT);
	ck_assert_str_eq(SW_SYSLOG_SD_ID_DEFAULT, "smtpwatch@0");
	ck_assert_int_eq(cfg->sinks[1].format, SW_SYSLOG_RFC3164);
	ck_assert_str_eq(cfg->sinks[1].sd_id, "alerts@99999.1.2");
	ck_assert_int_eq(cfg->sinks[2].format, SW_SYSLOG_RFC5424);
	ck_assert_str_eq(cfg->sinks[2].sd_id, "x@32473");
	ck_assert_msg(diag.n == 1 && diag.items[0].warning && diag.items[0].line == 13 &&
	              strstr(diag.items[0].text, "reserved for documentation (RFC 5612)") != NULL,
	              "want one warning at line 13:%s", diag_text());
	f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	sw_config_dump(cfg, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_msg(strstr(text, "\n[sink a]\ntype = syslog\n") && strstr(text, "\nformat = auto\nsd_id = smtpwatch@0\n") &&
	              strstr(text, "\nformat = rfc3164\nsd_id = alerts@99999.1.2\n"), "%s", text);
	free(text);
}
END_TEST

START_TEST(invalid_input_reports_file_line)
{
	int r = load_text(bad[_i].text);

	ck_assert_msg(r == -EINVAL, "case %d accepted (r=%d):%s", _i, r, diag_text());
	ck_assert_ptr_null(cfg);
	ck_assert_msg(has_error(bad[_i].line, bad[_i].frag), "case %d: no error at line %d with \"%s\":%s", _i,
	              bad[_i].line, bad[_i].frag, diag_text());
	ck_assert_msg(diag.n_errors == 1, "case %d: %zu errors, want exactly 1:%s", _i, diag.n_errors, diag_text());
	assert_no_secret_in_diag();
}
END_TEST

START_TEST(multiple_errors_all_reported_in_order)
{
	static const struct {
		int line;
		const char *frag;
	} want[] = {
		{ 2, "retention: invalid duration \"forever\"" },
		{ 3, "unknown key \"colour\" in [daemon]" },
		{ 5, "[tenant contoso]: tenant_id is required" },
		{ 8, "graph_url: http:// is only allowed for loopback hosts" },
		{ 9, "signins_interval: invalid duration \"5x\"" },
		{ 11, "unknown section [foo]" },
		{ 15, "[sink soc]: unknown type \"email\"" },
		{ 19, "rules: unknown rule \"x\"" },
		{ 20, "facility: unknown facility \"local9\"" },
	};

	ck_assert_int_eq(load_data("many-errors.conf"), -EINVAL);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(diag.n == sizeof(want) / sizeof(want[0]), "got:%s", diag_text());
	for (size_t i = 0; i < diag.n; i++) {
		ck_assert_str_eq(diag.items[i].source, conf);
		ck_assert_msg(diag.items[i].line == want[i].line && strstr(diag.items[i].text, want[i].frag),
		              "item %zu: want %d: %s, got:%s", i, want[i].line, want[i].frag, diag_text());
	}
}
END_TEST

START_TEST(secret_readable_by_others_refused)
{
	char frag[600];

	ck_assert_int_eq(chmod(in_dir("contoso.secret"), 0644), 0);
	ck_assert_int_eq(load_data("full.conf"), -EINVAL);
	snprintf(frag, sizeof(frag), "client_secret_file %s: readable by group or others (mode 0644); chmod 600 it",
	         in_dir("contoso.secret"));
	ck_assert_msg(has_error(15, frag), "got:%s", diag_text());
	ck_assert_uint_eq(diag.n_errors, 1);
	assert_no_secret_in_diag();
}
END_TEST

START_TEST(secret_files_group_bits_refused)
{
	ck_assert_int_eq(chmod(in_dir("soc.url"), 0640), 0);
	ck_assert_int_eq(chmod(in_dir("hec.token"), 0620), 0);
	ck_assert_int_eq(chmod(in_dir("soc.key"), 0601), 0);
	ck_assert_int_eq(chmod(in_dir("fabrikam.pem"), 0604), 0);
	ck_assert_int_eq(load_data("full.conf"), -EINVAL);
	ck_assert_msg(has_error(30, "fabrikam.pem: readable by group or others (mode 0604)"), "got:%s", diag_text());
	ck_assert_msg(has_error(45, "soc.url: readable by group or others (mode 0640)"), "got:%s", diag_text());
	ck_assert_msg(has_error(46, "soc.key: accessible by group or others (mode 0601)"), "got:%s", diag_text());
	ck_assert_msg(has_error(59, "hec.token: writable by group or others (mode 0620)"), "got:%s", diag_text());
	ck_assert_uint_eq(diag.n_errors, 4);
	assert_no_secret_in_diag();
}
END_TEST

START_TEST(loopback_http_accepted)
{
	ck_assert_msg(load_text(TENANT "login_url = http://127.0.0.1:8080\n"
	                               "graph_url = http://localhost:8080/\n"
	                               "exchange_url = http://[::1]:8080\n"
	                               "[sink soc]\ntype = webhook\nurl = http://127.0.0.1:8080/hooks/soc\n") == 0,
	              "refused:%s", diag_text());
	ck_assert_str_eq(cfg->tenants[0].login_url, "http://127.0.0.1:8080");
	ck_assert_str_eq(cfg->tenants[0].graph_url, "http://localhost:8080");
	ck_assert_str_eq(cfg->tenants[0].exchange_url, "http://[::1]:8080");
	ck_assert_str_eq(cfg->sinks[0].url, "http://127.0.0.1:8080/hooks/soc");
}
END_TEST

/* manage_url: the four documented hosts (any case, a trailing '/'), and
 * loopback for the simulator; audit and audit_interval beside it. */
START_TEST(manage_url_hosts)
{
	static const char *const ok[][2] = {
		{ "https://manage.office.com", "https://manage.office.com" },
		{ "https://manage-gcc.office.com/", "https://manage-gcc.office.com" },
		{ "https://MANAGE.office365.us", "https://MANAGE.office365.us" },
		{ "https://manage.protection.apps.mil//", "https://manage.protection.apps.mil" },
		{ "http://127.0.0.1:9443", "http://127.0.0.1:9443" },
	};
	char text[1024];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), TENANT "audit = on\nmanage_url = %s\naudit_interval = 5m\n", ok[i][0]);
		ck_assert_msg(load_text(text) == 0, "%s refused:%s", ok[i][0], diag_text());
		ck_assert(cfg->tenants[0].audit);
		ck_assert_str_eq(cfg->tenants[0].manage_url, ok[i][1]);
		ck_assert_int_eq(cfg->tenants[0].audit_interval, 300);
		sw_config_free(cfg);
		cfg = NULL;
		sw_diag_clear(&diag);
	}
}
END_TEST

START_TEST(missing_file)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/nope.conf", dir);
	ck_assert_int_eq(sw_config_load(path, &cfg, &diag), -ENOENT);
	ck_assert_ptr_null(cfg);
	ck_assert_uint_eq(diag.n, 1);
	ck_assert_str_eq(diag.items[0].source, path);
	ck_assert_int_eq(diag.items[0].line, 0);
	ck_assert_str_eq(diag.items[0].text, "cannot read: No such file or directory");
}
END_TEST

START_TEST(ini_syntax_details)
{
	/* BOM, CRLF, comments of both kinds, inline " ;" comments, indented
	 * keys (not continuations), empty socket_group, a 64-byte tenant name
	 * (inih itself keeps only 49 bytes of a section name) and a line of
	 * exactly 200 bytes with its newline. */
	char text[4096];
	char name64[65];
	char path200[256];
	const char *head = "report_spool = ";

	memset(name64, 'n', 64);
	name64[64] = '\0';
	memset(path200, 'p', sizeof(path200));
	path200[0] = '/';
	path200[199 - strlen(head)] = '\0';
	snprintf(text, sizeof(text),
	         "\xEF\xBB\xBF; comment\r\n"
	         "# another comment\r\n"
	         "[daemon]\r\n"
	         "   socket_group =\r\n"
	         "\tretention = 30d   ; a month\r\n"
	         "[tenant %s]\n"
	         "tenant_id = t ; ignored\n"
	         "client_id = c\n"
	         "client_secret_file = contoso.secret\n"
	         "%s%s\n"
	         "[tenant %s]\n",
	         name64, head, path200, name64);
	ck_assert_int_eq(strlen(head) + strlen(path200) + 1, 200);
	ck_assert_int_eq(load_text(text), -EINVAL);
	/* the only problem: the duplicate 64-byte name is seen as a duplicate */
	ck_assert_msg(diag.n == 1 && has_error(11, "duplicate section [tenant nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn]"),
	              "got:%s", diag_text());
	sw_diag_clear(&diag);

	text[strlen(text) - strlen("[tenant ") - 64 - 2] = '\0'; /* drop the duplicate */
	ck_assert_msg(load_text(text) == 0, "refused:%s", diag_text());
	ck_assert_str_eq(cfg->daemon.socket_group, "");
	ck_assert_int_eq(cfg->daemon.retention, 30 * 86400);
	ck_assert_str_eq(cfg->tenants[0].name, name64);
	ck_assert_str_eq(cfg->tenants[0].tenant_id, "t");
	ck_assert_int_eq(cfg->tenants[0].line, 6);
	ck_assert_uint_eq(strlen(cfg->tenants[0].report_spool), 199 - strlen(head));
}
END_TEST

START_TEST(line_201_bytes_refused)
{
	char text[512];
	char val[256];

	memset(val, 'v', sizeof(val));
	val[0] = '/';
	val[200 - strlen("report_spool = ")] = '\0'; /* 200 bytes + newline */
	snprintf(text, sizeof(text), TENANT "report_spool = %s\nfoo = bar\n", val);
	ck_assert_int_eq(load_text(text), -EINVAL);
	ck_assert_msg(has_error(5, "line too long (over 200 bytes)"), "got:%s", diag_text());
	ck_assert_msg(has_error(6, "unknown key \"foo\""), "reading goes on after a long line:%s", diag_text());
	ck_assert_uint_eq(diag.n_errors, 2);
}
END_TEST

START_TEST(relative_config_path)
{
	char cwd[1024];

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	write_file("smtpwatch.conf", TENANT "exceptions = registers/contoso.conf\n", 0644);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_msg(sw_config_load("smtpwatch.conf", &cfg, &diag) == 0, "refused:%s", diag_text());
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_str_eq(cfg->path, "smtpwatch.conf");
	ck_assert_str_eq(cfg->tenants[0].exceptions, in_dir("registers/contoso.conf"));
	ck_assert_str_eq(cfg->tenants[0].client_secret, SECRET_CONTOSO);
}
END_TEST

START_TEST(sink_wants)
{
	struct sw_sink_config *s;

	ck_assert_msg(load_data("full.conf") == 0, "refused:%s", diag_text());
	s = &cfg->sinks[0]; /* soc: medium, every rule */
	ck_assert(sw_sink_wants(s, "coverage-gap", SW_SEV_HIGH));
	ck_assert(sw_sink_wants(s, "smtp-auth-brute-force", SW_SEV_MEDIUM));
	ck_assert(!sw_sink_wants(s, "exception-expiring", SW_SEV_LOW));
	ck_assert(!sw_sink_wants(s, "exception-register-stale", SW_SEV_INFO));
	s = &cfg->sinks[1]; /* teams: high, two rules */
	ck_assert(sw_sink_wants(s, "unapproved-basic-auth-submission", SW_SEV_HIGH));
	ck_assert(sw_sink_wants(s, "smtp-auth-password-spray", SW_SEV_CRITICAL));
	ck_assert(!sw_sink_wants(s, "smtp-auth-password-spray", SW_SEV_MEDIUM));
	ck_assert(!sw_sink_wants(s, "tenant-smtp-auth-enabled", SW_SEV_CRITICAL));
	s = &cfg->sinks[4]; /* journal: critical only */
	ck_assert(sw_sink_wants(s, "tenant-smtp-auth-enabled", SW_SEV_CRITICAL));
	ck_assert(!sw_sink_wants(s, "coverage-gap", SW_SEV_HIGH));
}
END_TEST

START_TEST(names_and_enums)
{
	static const char *const spec_rules[] = {
		"tenant-smtp-auth-enabled", "unapproved-mailbox-exception", "unapproved-basic-auth-submission",
		"exception-source-drift", "exception-expired", "smtp-auth-password-spray", "smtp-auth-brute-force",
		"exception-volume-spike", "source-unhealthy", "credential-expiring", "exception-expiring",
		"exception-unused", "legacy-tls-submission", "exception-register-stale", "coverage-gap",
		"basic-sender-stopped", "legacy-auth-not-blocked", "smtp-auth-setting-changed",
	};
	static const struct {
		const char *name;
		int num;
	} facilities[] = {
		{ "kern", 0 }, { "user", 1 }, { "mail", 2 }, { "daemon", 3 }, { "auth", 4 }, { "syslog", 5 },
		{ "lpr", 6 }, { "news", 7 }, { "uucp", 8 }, { "cron", 9 }, { "authpriv", 10 }, { "ftp", 11 },
		{ "local0", 16 }, { "local7", 23 },
	};
	enum sw_severity sev;
	enum sw_sink_type type;
	int fac = -1;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(spec_rules) / sizeof(spec_rules[0]); i++)
		ck_assert_msg(sw_rule_known(spec_rules[i]), "%s", spec_rules[i]);
	while (sw_rules_all[n] != NULL) {
		ck_assert_str_eq(sw_rules_all[n], spec_rules[n]);
		n++;
	}
	ck_assert_uint_eq(n, SW_N_RULES);
	ck_assert(!sw_rule_known("x"));
	ck_assert(!sw_rule_known("*"));
	ck_assert(!sw_rule_known("Coverage-Gap"));
	ck_assert(!sw_rule_known(NULL));

	for (int s = SW_SEV_INFO; s <= SW_SEV_CRITICAL; s++) {
		ck_assert_int_eq(sw_severity_parse(sw_severity_name(s), &sev), 0);
		ck_assert_int_eq(sev, s);
	}
	ck_assert_str_eq(sw_severity_name(SW_SEV_MEDIUM), "medium");
	ck_assert_int_eq(sw_severity_parse("urgent", &sev), -EINVAL);
	for (int t = SW_SINK_WEBHOOK; t <= SW_SINK_JOURNAL; t++) {
		ck_assert_int_eq(sw_sink_type_parse(sw_sink_type_name(t), &type), 0);
		ck_assert_int_eq(type, t);
	}
	ck_assert_str_eq(sw_sink_type_name(SW_SINK_SPLUNK_HEC), "splunk-hec");
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		ck_assert_int_eq(sw_facility_parse(facilities[i].name, &fac), 0);
		ck_assert_int_eq(fac, facilities[i].num);
	}
	ck_assert_int_eq(sw_facility_parse("local8", &fac), -EINVAL);
}
END_TEST

START_TEST(secret_read)
{
	char *s = NULL;
	size_t len = 0;
	char why[160];

	ck_assert_int_eq(sw_secret_read(in_dir("contoso.secret"), &s, &len, why, sizeof(why)), 0);
	ck_assert_str_eq(s, SECRET_CONTOSO);
	ck_assert_uint_eq(len, strlen(SECRET_CONTOSO));
	sw_free_secret(s);
	s = NULL;

	/* A link is not followed: whoever may change it chooses the file. */
	ck_assert_int_eq(symlink(in_dir("contoso.secret"), in_dir("link.secret")), 0);
	ck_assert_int_eq(sw_secret_read(in_dir("link.secret"), &s, NULL, why, sizeof(why)), -ELOOP);
	ck_assert_str_eq(why, "a symbolic link; name the file itself");
	ck_assert_ptr_null(s);

	ck_assert_int_eq(chmod(in_dir("contoso.secret"), 0640), 0);
	ck_assert_int_eq(sw_secret_read(in_dir("contoso.secret"), &s, &len, why, sizeof(why)), -EPERM);
	ck_assert_str_eq(why, "readable by group or others (mode 0640); chmod 600 it");
	ck_assert_ptr_null(s);
	ck_assert_int_eq(chmod(in_dir("contoso.secret"), 0400), 0);
	ck_assert_int_eq(sw_secret_read(in_dir("contoso.secret"), &s, &len, why, sizeof(why)), 0);
	sw_free_secret(s);
	s = NULL;

	write_file("empty.secret", "\n", 0600);
	ck_assert_int_eq(sw_secret_read(in_dir("empty.secret"), &s, &len, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "empty");
	ck_assert_int_eq(sw_secret_read(dir, &s, &len, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "not a regular file (a directory)");
	ck_assert_int_eq(sw_secret_read(in_dir("nope"), &s, &len, why, sizeof(why)), -ENOENT);
	ck_assert_str_eq(why, "No such file or directory");
	ck_assert_ptr_null(s);
}
END_TEST

/* A FIFO as a secret file is refused at once (issue 21 #10: start and
 * reload hung in open() until someone wrote to it).  No writer ever opens
 * this FIFO: with the old blocking open the test would hang until Check's
 * timeout. */
START_TEST(secret_fifo_refused_without_blocking)
{
	char frag[600];
	char *s = NULL;
	char why[160];

	ck_assert_int_eq(unlink(in_dir("contoso.secret")), 0);
	ck_assert_int_eq(mkfifo(in_dir("contoso.secret"), 0600), 0);
	ck_assert_int_eq(sw_secret_read(in_dir("contoso.secret"), &s, NULL, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "not a regular file (a FIFO)");
	ck_assert_ptr_null(s);
	ck_assert_int_eq(unlink(in_dir("fabrikam.pem")), 0);
	ck_assert_int_eq(mkfifo(in_dir("fabrikam.pem"), 0600), 0);
	ck_assert_int_eq(load_data("full.conf"), -EINVAL);
	snprintf(frag, sizeof(frag), "client_secret_file %s: not a regular file (a FIFO)", in_dir("contoso.secret"));
	ck_assert_msg(has_error(15, frag), "got:%s", diag_text());
	ck_assert_msg(has_error(30, "fabrikam.pem: not a regular file (a FIFO)"), "got:%s", diag_text());
	ck_assert_uint_eq(diag.n_errors, 2);
}
END_TEST

/* A secret in a directory that others may write to (not sticky) is
 * refused: they could put their own file in its place.  A sticky one
 * (like /tmp) is fine. */
START_TEST(secret_in_writable_dir_refused)
{
	char frag[700];
	char sub[600];

	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(load_data("full.conf"), -EINVAL);
	snprintf(frag, sizeof(frag), "client_secret_file %s: directory %s is writable by group or others (mode 0777)",
	         in_dir("contoso.secret"), dir);
	ck_assert_msg(has_error(15, frag), "got:%s", diag_text());
	ck_assert_msg(has_error(30, "fabrikam.pem: directory"), "got:%s", diag_text());
	ck_assert_msg(has_error(45, "soc.url: directory"), "got:%s", diag_text());
	ck_assert_msg(has_error(46, "soc.key: directory"), "got:%s", diag_text());
	ck_assert_msg(has_error(59, "hec.token: directory"), "got:%s", diag_text());
	ck_assert_uint_eq(diag.n_errors, 5);
	assert_no_secret_in_diag();
	sw_diag_clear(&diag);
	memset(&diag, 0, sizeof(diag));

	ck_assert_int_eq(chmod(dir, 01777), 0);
	ck_assert_msg(load_data("full.conf") == 0, "refused:%s", diag_text());
	sw_config_free(cfg);
	cfg = NULL;

	/* The check covers every directory up from the file, not only its own. */
	ck_assert_int_eq(chmod(dir, 0770), 0);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(rename(in_dir("contoso.secret"), in_dir("sub/contoso.secret")), 0);
	char *s = NULL, why[400];
	ck_assert_int_eq(sw_secret_read(in_dir("sub/contoso.secret"), &s, NULL, why, sizeof(why)), -EPERM);
	snprintf(frag, sizeof(frag), "directory %s is writable by group or others (mode 0770); chmod go-w it", dir);
	ck_assert_str_eq(why, frag);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(sw_secret_read(in_dir("sub/contoso.secret"), &s, NULL, why, sizeof(why)), 0);
	ck_assert_str_eq(s, SECRET_CONTOSO);
	sw_free_secret(s);
}
END_TEST

/* A secret (or a directory above it) owned by another user than root or
 * the daemon's is refused.  Needs root to give a file away. */
START_TEST(secret_owned_by_another_user_refused)
{
	char frag[700], why[400], sub[600];
	char *s = NULL;

	if (geteuid() != 0) {
		printf("# SKIP secret_owned_by_another_user_refused: needs root to chown a file to another uid\n");
		return;
	}
	ck_assert_int_eq(chown(in_dir("soc.key"), 4242, (gid_t)-1), 0);
	ck_assert_int_eq(load_data("full.conf"), -EINVAL);
	ck_assert_msg(has_error(46, "soc.key: owned by uid 4242, not by root or the daemon's uid 0; chown it"), "got:%s",
	              diag_text());
	ck_assert_uint_eq(diag.n_errors, 1);

	snprintf(sub, sizeof(sub), "%s/theirs", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(chown(sub, 4242, (gid_t)-1), 0);
	write_file("theirs/contoso.secret", SECRET_CONTOSO "\n", 0600);
	ck_assert_int_eq(sw_secret_read(in_dir("theirs/contoso.secret"), &s, NULL, why, sizeof(why)), -EPERM);
	snprintf(frag, sizeof(frag), "directory %s is owned by uid 4242, not by root or the daemon's uid 0", sub);
	ck_assert_str_eq(why, frag);
	ck_assert_ptr_null(s);
}
END_TEST

/* The secret's buffer is page-aligned and marked MADV_DONTDUMP: the
 * kernel lists the mapping with the "dd" flag in /proc/self/smaps. */
/* Is p in a mapping that core dumps leave out (VmFlags dd)?  *ret_maps:
 * how many mappings the process has. */
static bool in_dontdump_mapping(const void *p, int *ret_maps)
{
	char line[512];
	unsigned long lo = 0, hi = 0;
	bool in = false, dd = false;
	int maps = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			maps++;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0)
			dd = strstr(line, " dd") != NULL;
	}
	fclose(f);
	if (ret_maps != NULL)
		*ret_maps = maps;
	return dd;
}

START_TEST(secret_buffer_left_out_of_core_dumps)
{
	char *s = NULL, why[160];

	ck_assert_int_eq(sw_secret_read(in_dir("contoso.secret"), &s, NULL, why, sizeof(why)), 0);
	/* Without a secure heap (the daemon sets one up): a page of its own. */
	if (!CRYPTO_secure_malloc_initialized())
		ck_assert_uint_eq((uintptr_t)s % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
	ck_assert_msg(in_dontdump_mapping(s, NULL), "the secret's mapping has no dd (MADV_DONTDUMP) flag");
	sw_free_secret(s);
}
END_TEST

/* With the secure heap the daemon sets up (smtpwatchd.c), 300 secrets
 * (300 tenants) share its one mapping, left out of core dumps, instead of
 * a page and a mapping each (issue 22 #2: 20,000 mappings at 10,000
 * tenants); each reads back whole, and freeing them empties the heap. */
START_TEST(secrets_packed_in_the_secure_heap)
{
	enum { N = 300 };
	char *s[N], name[64], text[64], why[160];
	int before = 0, after = 0;
	size_t used;

	ck_assert_int_ne(CRYPTO_secure_malloc_init(1u << 20, 32), 0);
	used = CRYPTO_secure_used();
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "t%03d.secret", i);
		snprintf(text, sizeof(text), "client-secret-%03d-0123456789abcdefghijklmnop\n", i);
		write_file(name, text, 0600);
	}
	in_dontdump_mapping(NULL, &before);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "t%03d.secret", i);
		ck_assert_int_eq(sw_secret_read(in_dir(name), &s[i], NULL, why, sizeof(why)), 0);
	}
	ck_assert(in_dontdump_mapping(s[N - 1], &after));
	ck_assert_msg(after - before < 10, "%d mappings for %d secrets", after - before, N);
	for (int i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "client-secret-%03d-0123456789abcdefghijklmnop", i);
		ck_assert_str_eq(s[i], text);
		ck_assert(CRYPTO_secure_allocated(s[i]));
	}
	for (int i = 0; i < N; i++)
		sw_free_secret(s[i]);
	ck_assert_uint_eq(CRYPTO_secure_used(), used);
}
END_TEST

/* smtpwatchd -T: every section and default is written, and no secret: a
 * secret file shows as its path, a url read from url_file and an inline
 * url (a Teams webhook is its own secret) not at all. */
/* The remediation keys: parsed, the write secret loaded, -T shows the
 * paths and never the secret. */
START_TEST(remediation_keys)
{
	const struct sw_tenant_config *t;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	write_file("write.secret", "write-secret-value\n", 0600);
	ck_assert_msg(load_text(TENANT "remediation = auto\nremediate_rules = unapproved-mailbox-exception, "
	                        "unapproved-basic-auth-submission\nremediation_max_per_hour = 3\n"
	                        "remediation_client_id = 22222222-2222-2222-2222-222222222222\n"
	                        "remediation_client_secret_file = write.secret\n") == 0,
	              "refused:%s", diag_text());
	t = &cfg->tenants[0];
	ck_assert_int_eq(t->remediation, SW_REMEDIATION_AUTO);
	ck_assert_str_eq(t->remediate_rules[0], "unapproved-mailbox-exception");
	ck_assert_str_eq(t->remediate_rules[1], "unapproved-basic-auth-submission");
	ck_assert_ptr_null(t->remediate_rules[2]);
	ck_assert_int_eq(t->remediation_max_per_hour, 3);
	ck_assert_str_eq(t->remediation_client_id, "22222222-2222-2222-2222-222222222222");
	ck_assert_str_eq(t->remediation_client_secret, "write-secret-value");
	ck_assert_str_eq(t->remediation_client_secret_file, in_dir("write.secret"));
	f = open_memstream(&text, &len);
	sw_config_dump(cfg, f);
	fclose(f);
	ck_assert_msg(strstr(text, "\nremediation = auto\n") &&
	              strstr(text, "\nremediate_rules = unapproved-mailbox-exception, unapproved-basic-auth-submission\n") &&
	              strstr(text, "\nremediation_max_per_hour = 3\n") && strstr(text, in_dir("write.secret")),
	              "%s", text);
	ck_assert_msg(strstr(text, "write-secret-value") == NULL, "the write secret is shown:\n%s", text);
	free(text);
	ck_assert(sw_rule_remediable("exception-expired", false));
	ck_assert(!sw_rule_remediable("tenant-smtp-auth-enabled", false));
	ck_assert(sw_rule_remediable("tenant-smtp-auth-enabled", true));
	ck_assert(!sw_rule_remediable("smtp-auth-brute-force", true));
}
END_TEST

START_TEST(dump_has_defaults_and_no_secret)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	ck_assert_msg(load_data("full.conf") == 0, "full.conf refused:%s", diag_text());
	f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	sw_config_dump(cfg, f);
	ck_assert_int_eq(fclose(f), 0);
	for (size_t j = 0; j < sizeof(secrets) / sizeof(secrets[0]); j++)
		ck_assert_msg(strstr(text, secrets[j]) == NULL, "secret %s in the dump:\n%s", secrets[j], text);
	ck_assert_msg(strstr(text, "webhookb2/abc") == NULL, "inline url in the dump:\n%s", text);
	ck_assert_msg(strstr(text, "\n[daemon]\n") && strstr(text, "\n[rules]\n") &&
	              strstr(text, "\n[sink soc]\n") && strstr(text, "\n[sink teams]\n"), "%s", text);
	ck_assert_msg(strstr(text, "\nspray_failures = ") && strstr(text, "\nmax_silence = "), "%s", text);
	ck_assert_msg(strstr(text, in_dir("soc.url")) != NULL, "url_file path missing:\n%s", text);
	ck_assert_msg(strstr(text, in_dir("contoso.secret")) != NULL, "secret file path missing:\n%s", text);
	free(text);
	sw_config_free(cfg);
	cfg = NULL;
	sw_diag_clear(&diag);

	/* The minimal config: what it leaves out is the documented default. */
	ck_assert_msg(load_data("minimal.conf") == 0, "minimal.conf refused:%s", diag_text());
	f = open_memstream(&text, &len);
	sw_config_dump(cfg, f);
	fclose(f);
	ck_assert_msg(strstr(text, "\nretention = 400d\n") && strstr(text, "\nsignins_interval = 5m\n") &&
	              strstr(text, "\nlogin_url = https://login.microsoftonline.com\n") &&
	              strstr(text, "\nstale_after = 3h\n"), "%s", text);
	ck_assert_msg(strstr(text, "\naudit = no\n") && strstr(text, "\nmanage_url = https://manage.office.com\n") &&
	              strstr(text, "\naudit_interval = 15m\n"), "%s", text);
	ck_assert_msg(strstr(text, "\nusage = yes\n") && strstr(text, "\nusage_interval = 1d\n") &&
	              strstr(text, "\ntrace = no\n") && strstr(text, "\ntrace_interval = 1h\n"), "%s", text);
	ck_assert_msg(strstr(text, "\nremediation = off\n") &&
	              strstr(text, "\nremediate_rules = unapproved-mailbox-exception, exception-expired\n") &&
	              strstr(text, "\nremediation_max_per_hour = 10\n"), "%s", text);
	free(text);
}
END_TEST


/* ---- tenants_dir and [tenant-defaults] (issue 22 #3) ---- */

/* Is there an error in file (under dir) at line whose text holds frag? */
static bool has_error_in(const char *file, int line, const char *frag)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	for (size_t i = 0; i < diag.n; i++)
		if (!diag.items[i].warning && diag.items[i].line == line && strcmp(diag.items[i].source, path) == 0 &&
		    strstr(diag.items[i].text, frag) != NULL)
			return true;
	return false;
}

#define TD_MAIN                                                                                                  \
	"[daemon]\n"                                                                                             \
	"tenants_dir = tenants.d\n"                                                                              \
	"\n"                                                                                                     \
	"[tenant-defaults]\n"                                                                                    \
	"client_id = 11111111-2222-3333-4444-555555555555\n"                                                     \
	"client_secret_file = contoso.secret\n"                                                                  \
	"graph_url = https://graph.microsoft.us\n"                                                               \
	"signins_interval = 10m\n"

static void td_mkdir(void)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/tenants.d", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

START_TEST(tenants_dir_defaults_inherited_and_overridden)
{
	td_mkdir();
	write_file("tenants.d/b-fabrikam.conf",
	           "; fabrikam has its own app and a faster poll\n"
	           "[tenant fabrikam]\n"
	           "tenant_id = fabrikam.onmicrosoft.com\n"
	           "client_id = 99999999-2222-3333-4444-555555555555\n"
	           "certificate_file = fabrikam.pem\n"
	           "signins_interval = 2m\n",
	           0644);
	write_file("tenants.d/a-contoso.conf", "[tenant contoso]\ntenant_id = contoso.onmicrosoft.com\n", 0644);
	write_file("tenants.d/README", "not a tenant file: no .conf\n", 0644);
	write_file("tenants.d/.hidden.conf", "garbage\n", 0644);
	ck_assert_msg(load_text(TD_MAIN) == 0, "load failed:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenants, 2);
	/* Sorted by file name. */
	const struct sw_tenant_config *c = &cfg->tenants[0], *f = &cfg->tenants[1];
	ck_assert_str_eq(c->name, "contoso");
	ck_assert_str_eq(f->name, "fabrikam");
	ck_assert_ptr_nonnull(strstr(c->file, "tenants.d/a-contoso.conf"));
	/* contoso inherits everything it does not say. */
	ck_assert_str_eq(c->client_id, "11111111-2222-3333-4444-555555555555");
	ck_assert_str_eq(c->client_secret, SECRET_CONTOSO);
	ck_assert_str_eq(c->graph_url, "https://graph.microsoft.us");
	ck_assert_int_eq(c->signins_interval, 600);
	ck_assert_str_eq(c->login_url, "https://login.microsoftonline.com");
	/* Relative paths are the main config's (its directory), in every file. */
	ck_assert_str_eq(f->certificate_file + strlen(f->certificate_file) - strlen("/fabrikam.pem"), "/fabrikam.pem");
	ck_assert_ptr_null(strstr(f->certificate_file, "tenants.d"));
	/* fabrikam's own keys win; its own certificate replaces the default
	 * secret (credentials go as a group, never "both set"). */
	ck_assert_str_eq(f->client_id, "99999999-2222-3333-4444-555555555555");
	ck_assert_ptr_null(f->client_secret_file);
	ck_assert_ptr_nonnull(strstr(f->certificate_file, "fabrikam.pem"));
	ck_assert_int_eq(f->signins_interval, 120);
	ck_assert_str_eq(f->graph_url, "https://graph.microsoft.us");
	ck_assert(!sw_tenant_config_equal(c, f));
	ck_assert(sw_tenant_config_equal(c, c));
}
END_TEST

START_TEST(tenants_dir_errors_name_file_and_line)
{
	td_mkdir();
	write_file("tenants.d/contoso.conf", "[tenant contoso]\ntenant_id = contoso.onmicrosoft.com\n", 0644);
	write_file("tenants.d/bad.conf",
	           "[tenant bad]\n"
	           "tenant_id = bad.onmicrosoft.com\n"
	           "signins_interval = soon\n"
	           "no_such_key = 1\n",
	           0644);
	write_file("tenants.d/sinky.conf", "[sink x]\ntype = journal\n", 0644);
	write_file("tenants.d/bare.conf", "tenant_id = bare.onmicrosoft.com\n[tenant bare]\n", 0644);
	write_file("tenants.d/two.conf", "[tenant two]\ntenant_id = t\n\n[tenant three]\ntenant_id = u\n", 0644);
	write_file("tenants.d/empty.conf", "; nothing\n", 0644);
	ck_assert_int_eq(load_text(TD_MAIN), -EINVAL);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(has_error_in("tenants.d/bad.conf", 3, "signins_interval"), "got:%s", diag_text());
	ck_assert_msg(has_error_in("tenants.d/bad.conf", 4, "unknown key \"no_such_key\""), "got:%s", diag_text());
	ck_assert_msg(has_error_in("tenants.d/sinky.conf", 1, "one [tenant NAME] section only"), "got:%s", diag_text());
	ck_assert_msg(has_error_in("tenants.d/bare.conf", 1, "outside of any [section]"), "got:%s", diag_text());
	ck_assert_msg(has_error_in("tenants.d/two.conf", 4, "one tenant a file"), "got:%s", diag_text());
	ck_assert_msg(has_error_in("tenants.d/empty.conf", 1, "no [tenant NAME] section"), "got:%s", diag_text());
	ck_assert_msg(!has_error_in("tenants.d/contoso.conf", 1, ""), "got:%s", diag_text());
	/* A secret problem of a default shows at the tenant inheriting it. */
	sw_diag_clear(&diag);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	write_file("contoso.secret", SECRET_CONTOSO "\n", 0644);
	ck_assert_int_eq(sw_config_load(conf, &cfg, &diag), -EINVAL);
	ck_assert_msg(has_error_in("tenants.d/contoso.conf", 1, "contoso.secret: readable by group or others"),
	              "got:%s", diag_text());
	assert_no_secret_in_diag();
}
END_TEST

START_TEST(tenants_dir_duplicates_name_both_places)
{
	td_mkdir();
	write_file("tenants.d/a.conf", "[tenant contoso]\ntenant_id = contoso.onmicrosoft.com\n", 0644);
	write_file("tenants.d/b.conf", "; the same tenant again\n[tenant contoso]\ntenant_id = c2\n", 0644);
	write_file("tenants.d/c.conf", "[tenant main]\ntenant_id = m2\n", 0644);
	ck_assert_int_eq(load_text(TD_MAIN "\n[tenant main]\ntenant_id = m.onmicrosoft.com\n"), -EINVAL);
	char want[700];
	snprintf(want, sizeof(want), "duplicate section [tenant contoso] (first at %s/tenants.d/a.conf:1)", dir);
	ck_assert_msg(has_error_in("tenants.d/b.conf", 2, want), "got:%s", diag_text());
	snprintf(want, sizeof(want), "duplicate section [tenant main] (first at %s:10)", conf);
	ck_assert_msg(has_error_in("tenants.d/c.conf", 1, want), "got:%s", diag_text());
}
END_TEST

START_TEST(tenants_dir_keep_going)
{
	td_mkdir();
	write_file("tenants.d/a.conf", "[tenant contoso]\ntenant_id = contoso.onmicrosoft.com\n", 0644);
	write_file("tenants.d/b.conf", "[tenant broken]\ntenant_id = b\nsignins_interval = never\n", 0644);
	write_file("tenants.d/c.conf", "[tenant contoso]\ntenant_id = again\n", 0644);
	write_file("smtpwatch.conf", TD_MAIN, 0644);
	ck_assert_msg(sw_config_load2(conf, SW_CONFIG_KEEP_GOING, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenants, 1);
	ck_assert_str_eq(cfg->tenants[0].name, "contoso");
	ck_assert_str_eq(cfg->tenants[0].tenant_id, "contoso.onmicrosoft.com");
	ck_assert_uint_eq(cfg->n_broken, 2);
	ck_assert_ptr_nonnull(strstr(cfg->broken[0].file, "tenants.d/b.conf"));
	ck_assert_str_eq(cfg->broken[0].name, "broken");
	ck_assert_int_eq(cfg->broken[0].line, 3);
	ck_assert_ptr_nonnull(strstr(cfg->broken[0].text, "signins_interval"));
	ck_assert_ptr_nonnull(strstr(cfg->broken[1].file, "tenants.d/c.conf"));
	ck_assert_str_eq(cfg->broken[1].name, "contoso");
	ck_assert_int_eq(cfg->broken[1].line, 1);
	/* The main config's own problems still fail the load. */
	sw_config_free(cfg);
	cfg = NULL;
	sw_diag_clear(&diag);
	write_file("smtpwatch.conf", TD_MAIN "bogus = 1\n", 0644);
	ck_assert_int_eq(sw_config_load2(conf, SW_CONFIG_KEEP_GOING, &cfg, &diag), -EINVAL);
	ck_assert_msg(has_error(9, "unknown key \"bogus\""), "got:%s", diag_text());
	/* A tenants_dir that is not there is the main config's problem. */
	sw_diag_clear(&diag);
	write_file("smtpwatch.conf", "[daemon]\ntenants_dir = nowhere.d\n", 0644);
	ck_assert_int_eq(sw_config_load2(conf, SW_CONFIG_KEEP_GOING, &cfg, &diag), -EINVAL);
	ck_assert_msg(has_error(2, "tenants_dir"), "got:%s", diag_text());
}
END_TEST

/* The diag's items as one text, for comparing two loads. */
static char *diag_all(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	for (size_t i = 0; i < diag.n; i++)
		fprintf(f, "%s:%d:%d: %s\n", diag.items[i].source, diag.items[i].line, diag.items[i].warning,
		        diag.items[i].text);
	fclose(f);
	return text;
}

/* sw_config_load3 with a cache: a load that finds a file as it was takes
 * its section from the cache, with the same problems; a changed file, or
 * a new one, is read; [tenant-defaults] applies to cached sections; a
 * secret file is read again; a file gone leaves the cache.  Each edit changes the file's size (two
 * writes of one size within a tick of the file system's clock are the
 * cache's documented blind spot). */
START_TEST(tenant_file_cache)
{
	struct sw_tenant_file_cache *cache = sw_tenant_file_cache_new();
	char *first, *again;

	ck_assert_ptr_nonnull(cache);
	td_mkdir();
	write_file("tenants.d/a.conf", "[tenant contoso]\ntenant_id = contoso.onmicrosoft.com\n", 0644);
	write_file("tenants.d/b.conf", "[tenant broken]\ntenant_id = b\nsignins_interval = never\nno equals sign\n", 0644);
	write_file("tenants.d/c.conf", "[tenant fabrikam]\ntenant_id = fabrikam.onmicrosoft.com\n", 0644);
	write_file("smtpwatch.conf", TD_MAIN, 0644);
	ck_assert_msg(sw_config_load3(conf, SW_CONFIG_KEEP_GOING, cache, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenant_files, 3);
	ck_assert_uint_eq(cfg->n_tenant_files_parsed, 3);
	ck_assert_uint_eq(sw_tenant_file_cache_size(cache), 3);
	ck_assert_uint_eq(cfg->n_tenants, 2);
	ck_assert_uint_eq(cfg->n_broken, 1);
	first = diag_all();
	ck_assert_ptr_nonnull(strstr(first, "signins_interval"));
	ck_assert_msg(has_error_in("tenants.d/b.conf", 4, ""), "got:%s", first);

	/* Nothing changed: nothing read, the same config and problems. */
	sw_config_free(cfg);
	cfg = NULL;
	sw_diag_clear(&diag);
	ck_assert_msg(sw_config_load3(conf, SW_CONFIG_KEEP_GOING, cache, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenant_files_parsed, 0);
	ck_assert_uint_eq(cfg->n_tenants, 2);
	ck_assert_str_eq(cfg->tenants[0].name, "contoso");
	ck_assert_str_eq(cfg->tenants[0].tenant_id, "contoso.onmicrosoft.com");
	ck_assert_str_eq(cfg->tenants[1].graph_url, "https://graph.microsoft.us");
	ck_assert_str_eq(cfg->tenants[1].client_secret, SECRET_CONTOSO);
	ck_assert_uint_eq(cfg->n_broken, 1);
	ck_assert_str_eq(cfg->broken[0].name, "broken");
	ck_assert_int_eq(cfg->broken[0].line, 3);
	again = diag_all();
	ck_assert_str_eq(again, first);
	free(again);
	free(first);

	/* The secret rotated: read again at every load, cached file or not. */
	sw_config_free(cfg);
	cfg = NULL;
	sw_diag_clear(&diag);
	write_file("contoso.secret", "rotated-secret\n", 0600);
	ck_assert_msg(sw_config_load3(conf, SW_CONFIG_KEEP_GOING, cache, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenant_files_parsed, 0);
	ck_assert_str_eq(cfg->tenants[0].client_secret, "rotated-secret");
	ck_assert_str_eq(cfg->tenants[1].client_secret, "rotated-secret");

	/* One file changed, the defaults too: one read, the new default on all. */
	sw_config_free(cfg);
	cfg = NULL;
	sw_diag_clear(&diag);
	write_file("tenants.d/c.conf", "[tenant fabrikam]\ntenant_id = fabrikam2.onmicrosoft.com\n", 0644);
	write_file("smtpwatch.conf", TD_MAIN "exchange_url = https://outlook.office365.us\n", 0644);
	ck_assert_msg(sw_config_load3(conf, SW_CONFIG_KEEP_GOING, cache, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenant_files_parsed, 1);
	ck_assert_str_eq(cfg->tenants[1].tenant_id, "fabrikam2.onmicrosoft.com");
	ck_assert_str_eq(cfg->tenants[0].exchange_url, "https://outlook.office365.us");
	ck_assert_str_eq(cfg->tenants[1].exchange_url, "https://outlook.office365.us");

	/* The broken file fixed, one removed, one added. */
	sw_config_free(cfg);
	cfg = NULL;
	sw_diag_clear(&diag);
	write_file("tenants.d/b.conf", "[tenant broken]\ntenant_id = b.onmicrosoft.com\n", 0644);
	write_file("tenants.d/d.conf", "[tenant woodgrove]\ntenant_id = w.onmicrosoft.com\n", 0644);
	char path[600];
	snprintf(path, sizeof(path), "%s/tenants.d/a.conf", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_msg(sw_config_load3(conf, SW_CONFIG_KEEP_GOING, cache, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenant_files, 3);
	ck_assert_uint_eq(cfg->n_tenant_files_parsed, 2);
	ck_assert_uint_eq(sw_tenant_file_cache_size(cache), 3);
	ck_assert_uint_eq(cfg->n_broken, 0);
	ck_assert_uint_eq(cfg->n_tenants, 3);
	ck_assert_ptr_null(sw_config_tenant(cfg, "contoso"));
	ck_assert_ptr_nonnull(sw_config_tenant(cfg, "broken"));
	ck_assert_ptr_nonnull(sw_config_tenant(cfg, "woodgrove"));

	/* Without a cache (--check-config) every file is read. */
	sw_config_free(cfg);
	cfg = NULL;
	sw_diag_clear(&diag);
	ck_assert_msg(sw_config_load2(conf, 0, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenant_files_parsed, 3);
	sw_tenant_file_cache_free(cache);
}
END_TEST

/* 3,000 tenants and sinks in the main file: every duplicate among them
 * is reported against its first (the label index, issue 22 #3), and the
 * tenants keep their file order. */
START_TEST(many_sections_duplicates_found)
{
	size_t cap = 3000 * 64 + 4096, len = 0;
	char *text = malloc(cap);

	ck_assert_ptr_nonnull(text);
	len += (size_t)snprintf(text + len, cap - len, "[daemon]\n[tenant-defaults]\n"
	                        "client_id = 11111111-2222-3333-4444-555555555555\nclient_secret_file = contoso.secret\n");
	for (int i = 0; i < 3000; i++)
		len += (size_t)snprintf(text + len, cap - len, "[tenant t%04d]\ntenant_id = t%d\n", i, i);
	/* lines: [daemon] 1, the defaults 2-4, tenant i at 5 + 2i */
	size_t len_good = len;
	len += (size_t)snprintf(text + len, cap - len, "[tenant t0000]\ntenant_id = again\n"); /* line 6005 */
	len += (size_t)snprintf(text + len, cap - len, "[tenant t2999]\ntenant_id = again\n"); /* line 6007 */
	len += (size_t)snprintf(text + len, cap - len, "[tenant t1500]\ntenant_id = again\n"); /* line 6009 */
	len += (size_t)snprintf(text + len, cap - len, "[daemon]\n");                           /* line 6011 */
	write_file("smtpwatch.conf", text, 0644);
	ck_assert_int_eq(sw_config_load2(conf, SW_CONFIG_KEEP_GOING, &cfg, &diag), -EINVAL);
	ck_assert_uint_eq(diag.n_errors, 4);
	ck_assert_msg(has_error(6005, "duplicate section [tenant t0000] (first at line 5)"), "got:%s", diag_text());
	ck_assert_msg(has_error(6007, "duplicate section [tenant t2999] (first at line 6003)"), "got:%s", diag_text());
	ck_assert_msg(has_error(6009, "duplicate section [tenant t1500] (first at line 3005)"), "got:%s", diag_text());
	ck_assert_msg(has_error(6011, "duplicate section [daemon] (first at line 1)"), "got:%s", diag_text());
	/* Without the duplicates it loads, in order. */
	sw_diag_clear(&diag);
	text[len_good] = '\0';
	write_file("smtpwatch.conf", text, 0644);
	free(text);
	ck_assert_msg(sw_config_load2(conf, 0, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_uint_eq(cfg->n_tenants, 3000);
	for (size_t i = 0; i < cfg->n_tenants; i++) {
		char want[32];
		snprintf(want, sizeof(want), "t%04u", (unsigned)i);
		ck_assert_str_eq(cfg->tenants[i].name, want);
		ck_assert_ptr_eq(sw_config_tenant(cfg, want), &cfg->tenants[i]);
	}
	ck_assert_ptr_null(sw_config_tenant(cfg, "t3000"));
	ck_assert_ptr_null(sw_config_tenant(cfg, "T0001"));
	ck_assert_ptr_null(sw_config_tenant(cfg, ""));
}
END_TEST

/* Tenants that share a secret file (read once a load) and tenants with
 * their own, in turn: each holds its own file's secret, in its own copy;
 * a shared file that is not private fails every tenant that names it. */
START_TEST(secret_files_shared_and_own)
{
	write_file("other.secret", "other-secret-value\n", 0600);
	write_file("smtpwatch.conf", "[tenant-defaults]\nclient_id = 11111111-2222-3333-4444-555555555555\n"
	           "client_secret_file = contoso.secret\n[tenant a]\ntenant_id = a\n[tenant b]\ntenant_id = b\n"
	           "client_secret_file = other.secret\n[tenant c]\ntenant_id = c\n[tenant d]\ntenant_id = d\n"
	           "remediation_client_id = 11111111-2222-3333-4444-555555555556\n"
	           "remediation_client_secret_file = other.secret\n", 0644);
	ck_assert_msg(sw_config_load(conf, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_str_eq(sw_config_tenant(cfg, "a")->client_secret, SECRET_CONTOSO);
	ck_assert_str_eq(sw_config_tenant(cfg, "b")->client_secret, "other-secret-value");
	ck_assert_str_eq(sw_config_tenant(cfg, "c")->client_secret, SECRET_CONTOSO);
	ck_assert_str_eq(sw_config_tenant(cfg, "d")->client_secret, SECRET_CONTOSO);
	ck_assert_str_eq(sw_config_tenant(cfg, "d")->remediation_client_secret, "other-secret-value");
	ck_assert_ptr_ne(sw_config_tenant(cfg, "a")->client_secret, sw_config_tenant(cfg, "c")->client_secret);
	sw_config_free(cfg);
	cfg = NULL;
	ck_assert_int_eq(chmod(in_dir("contoso.secret"), 0644), 0);
	ck_assert_int_eq(sw_config_load(conf, &cfg, &diag), -EINVAL);
	ck_assert_msg(diag.n_errors == 3 && has_error(4, "contoso.secret: readable by group or others") &&
	              has_error(9, "contoso.secret: readable") && has_error(11, "contoso.secret: readable"),
	              "got:%s", diag_text());
	assert_no_secret_in_diag();
}
END_TEST

/* A tenant whose register does not load is left out and listed broken
 * (the daemon loads registers); the others keep their order. */
START_TEST(tenant_break_and_compact)
{
	write_file("smtpwatch.conf", "[tenant-defaults]\nclient_id = 11111111-2222-3333-4444-555555555555\n"
	           "client_secret_file = contoso.secret\n[tenant a]\ntenant_id = a\n[tenant b]\ntenant_id = b\n[tenant c]\ntenant_id = c\n"
	           "[tenant d]\ntenant_id = d\n", 0644);
	ck_assert_msg(sw_config_load2(conf, SW_CONFIG_KEEP_GOING, &cfg, &diag) == 0, "got:%s", diag_text());
	ck_assert_uint_eq(cfg->n_broken, 0);
	ck_assert_int_eq(sw_config_tenant_break(cfg, 1, "/etc/x/b.conf", 7, "expires: invalid date"), 0);
	ck_assert_int_eq(sw_config_tenant_break(cfg, 3, "/etc/x/d.conf", 2, "allowed_ips: bad"), 0);
	ck_assert_int_eq(sw_config_tenant_break(cfg, 3, "/etc/x/d.conf", 2, "twice"), -EINVAL);
	ck_assert_int_eq(sw_config_tenant_break(cfg, 9, "/etc/x/z.conf", 2, "none"), -EINVAL);
	/* Left out before the compaction: not found, the others in place. */
	ck_assert_ptr_null(sw_config_tenant(cfg, "b"));
	ck_assert_ptr_null(sw_config_tenant(cfg, "d"));
	ck_assert_ptr_eq(sw_config_tenant(cfg, "c"), &cfg->tenants[2]);
	sw_config_tenants_compact(cfg);
	ck_assert_uint_eq(cfg->n_tenants, 2);
	ck_assert_str_eq(cfg->tenants[0].name, "a");
	ck_assert_str_eq(cfg->tenants[1].name, "c");
	ck_assert_str_eq(cfg->tenants[1].tenant_id, "c");
	ck_assert_uint_eq(cfg->n_broken, 2);
	ck_assert_str_eq(cfg->broken[0].name, "b");
	ck_assert_str_eq(cfg->broken[0].file, "/etc/x/b.conf");
	ck_assert_int_eq(cfg->broken[0].line, 7);
	ck_assert(cfg->broken[0].exceptions);
	ck_assert_str_eq(cfg->broken[0].text, "expires: invalid date");
	ck_assert_str_eq(cfg->broken[1].name, "d");
	ck_assert_ptr_null(sw_config_tenant(cfg, "b"));
	ck_assert_ptr_eq(sw_config_tenant(cfg, "a"), &cfg->tenants[0]);
	ck_assert_ptr_eq(sw_config_tenant(cfg, "c"), &cfg->tenants[1]);
	/* Adopted ones (a reload keeping a broken file's tenant) are found,
	 * past the index's first size too. */
	for (int k = 0; k < 100; k++) {
		struct sw_tenant_config t = {0};
		char name[16];
		snprintf(name, sizeof(name), "kept%d", k);
		t.name = strdup(name);
		ck_assert_ptr_nonnull(t.name);
		ck_assert_int_eq(sw_config_adopt_tenant(cfg, &t), 0);
		ck_assert_ptr_null(t.name);
	}
	ck_assert_uint_eq(cfg->n_tenants, 102);
	for (int k = 0; k < 100; k++) {
		char name[16];
		snprintf(name, sizeof(name), "kept%d", k);
		ck_assert_ptr_eq(sw_config_tenant(cfg, name), &cfg->tenants[2 + k]);
	}
	ck_assert_ptr_eq(sw_config_tenant(cfg, "c"), &cfg->tenants[1]);
	ck_assert_ptr_null(sw_config_tenant(cfg, "kept100"));
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, full_config_every_field);
	tcase_add_test(tc, secret_files_shared_and_own);
	tcase_add_test(tc, shipped_example_config);
	tcase_add_test(tc, minimal_config_defaults);
	tcase_add_test(tc, syslog_transports);
	tcase_add_test(tc, syslog_format_and_sd_id);
	tcase_add_loop_test(tc, invalid_input_reports_file_line, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, multiple_errors_all_reported_in_order);
	tcase_add_test(tc, secret_readable_by_others_refused);
	tcase_add_test(tc, secret_files_group_bits_refused);
	tcase_add_test(tc, loopback_http_accepted);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, ini_syntax_details);
	tcase_add_test(tc, line_201_bytes_refused);
	tcase_add_test(tc, relative_config_path);
	tcase_add_test(tc, sink_wants);
	tcase_add_test(tc, names_and_enums);
	tcase_add_test(tc, secret_read);
	tcase_add_test(tc, secret_fifo_refused_without_blocking);
	tcase_add_test(tc, secret_in_writable_dir_refused);
	tcase_add_test(tc, secret_owned_by_another_user_refused);
	tcase_add_test(tc, secret_buffer_left_out_of_core_dumps);
	tcase_add_test(tc, secrets_packed_in_the_secure_heap);
	tcase_add_test(tc, dump_has_defaults_and_no_secret);
	tcase_add_test(tc, manage_url_hosts);
	tcase_add_test(tc, remediation_keys);
	tcase_add_test(tc, tenants_dir_defaults_inherited_and_overridden);
	tcase_add_test(tc, tenants_dir_errors_name_file_and_line);
	tcase_add_test(tc, tenants_dir_duplicates_name_both_places);
	tcase_add_test(tc, tenants_dir_keep_going);
	tcase_add_test(tc, tenant_file_cache);
	tcase_add_test(tc, many_sections_duplicates_found);
	tcase_add_test(tc, tenant_break_and_compact);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(config_suite)
