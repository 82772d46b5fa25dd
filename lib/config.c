/* config.c: smtpwatch.conf -> struct sw_config, every problem as FILE:LINE. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_MAX (64 * 1024)

const char *const sw_rules_all[SW_N_RULES + 1] = {
	"tenant-smtp-auth-enabled",
	"unapproved-mailbox-exception",
	"unapproved-basic-auth-submission",
	"exception-source-drift",
	"exception-expired",
	"smtp-auth-password-spray",
	"smtp-auth-brute-force",
	"exception-volume-spike",
	"source-unhealthy",
	"credential-expiring",
	"exception-expiring",
	"exception-unused",
	"legacy-tls-submission",
	"exception-register-stale",
	"coverage-gap",
	"basic-sender-stopped",
	"legacy-auth-not-blocked",
	"smtp-auth-setting-changed",
	NULL,
};

/* See config.h. */
const char *const sw_remediable_rules[] = {
	"unapproved-mailbox-exception",
	"exception-expired",
	"unapproved-basic-auth-submission",
	"tenant-smtp-auth-enabled",
	NULL,
};

/* See config.h. */
bool sw_rule_remediable(const char *rule, bool tenant_switch)
{
	if (rule == NULL)
		return false;
	if (strcmp(rule, "tenant-smtp-auth-enabled") == 0)
		return tenant_switch;
	for (size_t i = 0; sw_remediable_rules[i] != NULL; i++)
		if (strcmp(sw_remediable_rules[i], rule) == 0)
			return true;
	return false;
}

static const struct sw_name remediation_names[] = {
	{ SW_REMEDIATION_OFF, "off" }, { SW_REMEDIATION_MANUAL, "manual" }, { SW_REMEDIATION_AUTO, "auto" }, { 0, NULL },
};

/* See config.h. */
const char *sw_remediation_mode_name(enum sw_remediation_mode m)
{
	return sw_name_of(remediation_names, (int)m, "unknown");
}

/* See config.h. */
int sw_remediation_mode_parse(const char *s, enum sw_remediation_mode *ret)
{
	for (size_t i = 0; remediation_names[i].name != NULL; i++)
		if (strcasecmp(s, remediation_names[i].name) == 0) {
			*ret = (enum sw_remediation_mode)remediation_names[i].value;
			return 0;
		}
	return -EINVAL;
}

static const struct sw_name severity_names[] = {
	{ SW_SEV_INFO, "info" }, { SW_SEV_LOW, "low" },           { SW_SEV_MEDIUM, "medium" },
	{ SW_SEV_HIGH, "high" }, { SW_SEV_CRITICAL, "critical" }, { 0, NULL },
};
static const struct sw_name sink_type_names[] = {
	{ SW_SINK_WEBHOOK, "webhook" }, { SW_SINK_TEAMS, "teams" },     { SW_SINK_SPLUNK_HEC, "splunk-hec" },
	{ SW_SINK_SYSLOG, "syslog" },   { SW_SINK_JOURNAL, "journal" }, { 0, NULL },
};
static const struct sw_name syslog_format_names[] = {
	{ SW_SYSLOG_AUTO, "auto" }, { SW_SYSLOG_RFC5424, "rfc5424" }, { SW_SYSLOG_RFC3164, "rfc3164" }, { 0, NULL },
};

/* Is name one of SPEC's rules, or the daemon's own delivery-dead or
 * silence-changed? */
bool sw_rule_known(const char *name)
{
	for (size_t i = 0; name != NULL && sw_rules_all[i] != NULL; i++)
		if (strcmp(sw_rules_all[i], name) == 0)
			return true;
	return name != NULL && (strcmp(name, SW_RULE_DELIVERY_DEAD) == 0 || strcmp(name, SW_RULE_SILENCE_CHANGED) == 0);
}

/* "info" .. "critical", and "webhook", "teams", "splunk-hec", "syslog",
 * "journal"; "unknown" for a value out of range. */
SW_DEFINE_NAME_LOOKUP(sw_severity_name, sw_severity_parse, enum sw_severity, severity_names, "unknown")
SW_DEFINE_NAME_LOOKUP(sw_sink_type_name, sw_sink_type_parse, enum sw_sink_type, sink_type_names, "unknown")
SW_DEFINE_NAME_LOOKUP(sw_syslog_format_name, sw_syslog_format_parse, enum sw_syslog_format, syslog_format_names,
                      "unknown")

/* "yes"/"true"/"on"/"1" or the opposites, any case; -EINVAL otherwise. */
int sw_bool_parse(const char *s, bool *ret)
{
	static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static const struct sw_name facilities[] = {
	{ 0, "kern" },      { 1, "user" },    { 2, "mail" },    { 3, "daemon" },  { 4, "auth" },
	{ 5, "syslog" },    { 6, "lpr" },     { 7, "news" },    { 8, "uucp" },    { 9, "cron" },
	{ 10, "authpriv" }, { 11, "ftp" },    { 16, "local0" }, { 17, "local1" }, { 18, "local2" },
	{ 19, "local3" },   { 20, "local4" }, { 21, "local5" }, { 22, "local6" }, { 23, "local7" },
	{ 0, NULL },
};

/* Syslog facility name to number (LOG_x >> 3); -EINVAL if unknown. */
int sw_facility_parse(const char *s, int *ret)
{
	return sw_name_parse(facilities, s, ret);
}

/* Scratch for reading a secret file of up to SECRET_MAX bytes: a mapping
 * of its own, left out of core dumps, unmapped (after it was overwritten)
 * once the secret is copied out, so that the heap keeps no 64 KiB hole
 * per secret. */
static char *secret_scratch(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, size, MADV_DONTDUMP);
	return p;
}

/* Unmap it, overwriting what was written there (used bytes: the pages
 * past them were never touched, and overwriting them faulted in 16 pages
 * of zeros for each secret read). */
static void secret_scratch_free(char *p, size_t size, size_t used)
{
	if (p == NULL)
		return;
	explicit_bzero(p, used < size ? used : size);
	munmap(p, size);
}

/* Is a directory on a secret's path safe: owned by root or by us, and not
 * writable by group or others unless sticky (like /tmp)?  Whoever may
 * write to a directory on the path may put a file of theirs in the
 * secret's place (sshd's StrictModes checks the same). */
static int secret_dir_check(const char *dir, uid_t euid, char *why, size_t n)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		int r = -errno;
		snprintf(why, n, "directory %s: %s", dir, strerror(-r));
		return r;
	}
	if (st.st_uid != 0 && st.st_uid != euid) {
		snprintf(why, n, "directory %s is owned by uid %u, not by root or the daemon's uid %u", dir,
		         (unsigned)st.st_uid, (unsigned)euid);
		return -EPERM;
	}
	if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
		snprintf(why, n, "directory %s is writable by group or others (mode %04o); chmod go-w it", dir,
		         (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* Open a secret file as sshd's StrictModes would accept it: every
 * directory from / down to it checked, the file opened relative to its
 * directory without following a symbolic link, and without blocking (a
 * FIFO would hang start and reload until someone wrote to it). */
static int secret_open(const char *path, int *ret_fd, char *why, size_t n)
{
	char *dcopy = strdup(path), *bcopy = strdup(path), *real = NULL;
	const char *base;
	uid_t euid = geteuid();
	int dfd = -1, fd, r;
	size_t len;

	if (dcopy == NULL || bcopy == NULL) {
		r = -ENOMEM;
		snprintf(why, n, "out of memory");
		goto out;
	}
	base = basename(bcopy);
	real = realpath(dirname(dcopy), NULL);
	if (real == NULL) {
		r = -errno;
		snprintf(why, n, "%s", strerror(-r));
		goto out;
	}
	/* Each prefix of the resolved directory: "/", "/etc", "/etc/smtpwatch".
	 * Nobody but root and us may change a name in any of them, so the
	 * open below reaches the directories checked here. */
	len = strlen(real);
	r = secret_dir_check("/", euid, why, n);
	for (size_t i = 2; r >= 0 && i <= len; i++) {
		char c = real[i];
		if (c != '/' && c != '\0')
			continue;
		real[i] = '\0';
		r = secret_dir_check(real, euid, why, n);
		real[i] = c;
	}
	if (r < 0)
		goto out;
	dfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		snprintf(why, n, "directory %s: %s", real, strerror(-r));
		goto out;
	}
	fd = openat(dfd, base, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			snprintf(why, n, "a symbolic link; name the file itself");
		else
			snprintf(why, n, "%s", strerror(-r));
		goto out;
	}
	*ret_fd = fd;
	r = 0;
out:
	if (dfd >= 0)
		close(dfd);
	free(real);
	free(dcopy);
	free(bcopy);
	return r;
}

/* What kind of file that is not a regular one st describes. */
static const char *file_kind(const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return "a directory";
	if (S_ISFIFO(st->st_mode))
		return "a FIFO";
	if (S_ISSOCK(st->st_mode))
		return "a socket";
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		return "a device";
	return "not a file";
}

/* Check an open secret file: regular, no group/other bits, owned by root
 * or by the daemon's user, not too big. */
static int secret_check_fd(int fd, struct stat *st, char *why, size_t n)
{
	uid_t euid = geteuid();

	if (fstat(fd, st) < 0) {
		int r = -errno;
		snprintf(why, n, "%s", strerror(-r));
		return r;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, n, "not a regular file (%s)", file_kind(st));
		return -EINVAL;
	}
	if ((st->st_mode & 077) != 0) {
		snprintf(why, n, "%s by group or others (mode %04o); chmod 600 it",
		         (st->st_mode & 044) ? "readable" : (st->st_mode & 022) ? "writable" : "accessible",
		         (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	if (st->st_uid != 0 && st->st_uid != euid) {
		snprintf(why, n, "owned by uid %u, not by root or the daemon's uid %u; chown it", (unsigned)st->st_uid,
		         (unsigned)euid);
		return -EPERM;
	}
	if (st->st_size > SECRET_MAX) {
		snprintf(why, n, "larger than %d KiB", SECRET_MAX / 1024);
		return -EFBIG;
	}
	return 0;
}

/* Read a secret file that only its owner may read (see config.h). */
int sw_secret_read(const char *path, char **ret, size_t *ret_len, char *why, size_t n)
{
	char tmp[1];
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd = -1, r;

	if (why == NULL || n == 0) {
		why = tmp;
		n = sizeof(tmp);
	}
	why[0] = '\0';
	r = secret_open(path, &fd, why, n);
	if (r < 0)
		return r;
	r = secret_check_fd(fd, &st, why, n);
	if (r < 0)
		goto fail;
	buf = secret_scratch(SECRET_MAX + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		snprintf(why, n, "out of memory");
		goto fail;
	}
	for (;;) {
		ssize_t k = read(fd, buf + len, SECRET_MAX + 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			snprintf(why, n, "%s", strerror(-r));
			goto fail;
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > SECRET_MAX) {
			r = -EFBIG;
			snprintf(why, n, "larger than %d KiB", SECRET_MAX / 1024);
			goto fail;
		}
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	buf[len] = '\0';
	if (len == 0) {
		r = -EINVAL;
		snprintf(why, n, "empty");
		goto fail;
	}
	close(fd);
	/* Only what the secret takes (and its NUL) stays. */
	*ret = sw_secret_alloc(len + 1);
	if (*ret == NULL) {
		secret_scratch_free(buf, SECRET_MAX + 1, len + 1);
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	memcpy(*ret, buf, len + 1);
	secret_scratch_free(buf, SECRET_MAX + 1, len + 1);
	if (ret_len != NULL)
		*ret_len = len;
	return 0;
fail:
	secret_scratch_free(buf, SECRET_MAX + 1, len + 1);
	close(fd);
	return r;
}

/* Check a secret file's type, mode, owner and directories without
 * reading it. */
static int secret_check(const char *path, char *why, size_t n)
{
	struct stat st;
	int fd, r;

	r = secret_open(path, &fd, why, n);
	if (r < 0)
		return r;
	r = secret_check_fd(fd, &st, why, n);
	close(fd);
	return r;
}

enum sec_kind {
	SEC_DAEMON,
	SEC_RULES,
	SEC_TENANT,
	SEC_SINK,
	SEC_TDEFAULTS, /* [tenant-defaults]: tenant keys every tenant inherits */
};

/* How a key's value is parsed and stored. */
enum key_kind {
	K_STR,       /* char *, not empty */
	K_STR_EMPTY, /* char *, may be empty */
	K_PATH,      /* char *, relative to the config's directory */
	K_BASEURL,   /* char *, checked with sw_url_check, trailing '/' dropped */
	K_URL,       /* char *, checked with sw_url_check; may be secret */
	K_DURATION,  /* int64_t seconds, > 0 */
	K_DURATION0, /* int64_t seconds, >= 0 */
	K_COUNT,     /* int64_t, > 0 */
	K_COUNT0,    /* int64_t, >= 0 */
	K_GUID,      /* char *, 8-4-4-4-12 hex digits */
	K_ALG,       /* char *, PS256 | RS256 */
	K_SINKTYPE,  /* enum sw_sink_type */
	K_SEVERITY,  /* enum sw_severity */
	K_RULES,     /* char **, NULL for "*" */
	K_ADDRESS,   /* char *, syslog address */
	K_FACILITY,  /* int */
	K_BOOL,      /* bool: yes | no | true | false | on | off | 1 | 0 */
	K_PROXY,     /* char *, sw_proxy_check; empty = none */
	K_SYSLOG_FORMAT, /* enum sw_syslog_format */
	K_SD_ID,     /* char *, NAME@PEN (sd_id_valid) */
	K_LISTEN,    /* char *, sw_listen_parse */
	K_MANAGEURL, /* char *, a K_BASEURL that is one of sw_manage_urls or loopback */
	K_REMEDIATION, /* enum sw_remediation_mode */
	K_REMEDY_RULES, /* char **, names of sw_remediable_rules' mailbox rules */
};

struct key_def {
	const char *name;
	enum key_kind kind;
	size_t offset;
};

#define D(f) offsetof(struct sw_daemon_config, f)
static const struct key_def daemon_keys[] = {
	{ "state_dir", K_PATH, D(state_dir) },
	{ "socket", K_PATH, D(socket) },
	{ "socket_group", K_STR_EMPTY, D(socket_group) },
	{ "retention", K_DURATION, D(retention) },
	{ "dead_after", K_DURATION, D(dead_after) },
	{ "operator_group", K_STR_EMPTY, D(operator_group) },
	{ "max_silence", K_DURATION, D(max_silence) },
	{ "allow_root", K_BOOL, D(allow_root) },
	{ "proxy", K_PROXY, D(proxy) },
	{ "metrics_listen", K_LISTEN, D(metrics_listen) },
	{ "metrics_allow_remote", K_BOOL, D(metrics_allow_remote) },
	{ "tenants_dir", K_PATH, D(tenants_dir) },
	{ NULL, 0, 0 },
};
#undef D

#define R(f) offsetof(struct sw_rules_config, f)
static const struct key_def rules_keys[] = {
	{ "spray_failures", K_COUNT, R(spray_failures) },
	{ "spray_users", K_COUNT, R(spray_users) },
	{ "spray_window", K_DURATION, R(spray_window) },
	{ "bruteforce_failures", K_COUNT, R(bruteforce_failures) },
	{ "bruteforce_window", K_DURATION, R(bruteforce_window) },
	{ "unused_after", K_DURATION, R(unused_after) },
	{ "expiring_within", K_DURATION, R(expiring_within) },
	{ "max_exception_lifetime", K_DURATION, R(max_exception_lifetime) },
	{ "stale_after", K_DURATION, R(stale_after) },
	{ NULL, 0, 0 },
};
#undef R

#define T(f) offsetof(struct sw_tenant_config, f)
static const struct key_def tenant_keys[] = {
	{ "tenant_id", K_STR, T(tenant_id) },
	{ "client_id", K_STR, T(client_id) },
	{ "client_secret_file", K_PATH, T(client_secret_file) },
	{ "certificate_file", K_PATH, T(certificate_file) },
	{ "assertion_alg", K_ALG, T(assertion_alg) },
	{ "login_url", K_BASEURL, T(login_url) },
	{ "graph_url", K_BASEURL, T(graph_url) },
	{ "exchange_url", K_BASEURL, T(exchange_url) },
	{ "signins_interval", K_DURATION, T(signins_interval) },
	{ "signins_lookback", K_DURATION0, T(signins_lookback) },
	{ "initial_backfill", K_DURATION0, T(initial_backfill) },
	{ "config_interval", K_DURATION, T(config_interval) },
	{ "report_spool", K_PATH, T(report_spool) },
	{ "exceptions", K_PATH, T(exceptions) },
	{ "audit", K_BOOL, T(audit) },
	{ "manage_url", K_MANAGEURL, T(manage_url) },
	{ "audit_interval", K_DURATION, T(audit_interval) },
	{ "usage", K_BOOL, T(usage) },
	{ "usage_interval", K_DURATION, T(usage_interval) },
	{ "trace", K_BOOL, T(trace) },
	{ "trace_interval", K_DURATION, T(trace_interval) },
	{ "remediation", K_REMEDIATION, T(remediation) },
	{ "remediate_rules", K_REMEDY_RULES, T(remediate_rules) },
	{ "remediation_max_per_hour", K_COUNT, T(remediation_max_per_hour) },
	{ "remediation_client_id", K_STR, T(remediation_client_id) },
	{ "remediation_client_secret_file", K_PATH, T(remediation_client_secret_file) },
	{ "remediation_certificate_file", K_PATH, T(remediation_certificate_file) },
	{ NULL, 0, 0 },
};
#undef T

enum { TK_TENANT_ID, TK_CLIENT_ID, TK_SECRET_FILE, TK_CERT_FILE };

#define S(f) offsetof(struct sw_sink_config, f)
static const struct key_def sink_keys[] = {
	{ "type", K_SINKTYPE, S(type) },
	{ "min_severity", K_SEVERITY, S(min_severity) },
	{ "rules", K_RULES, S(rules) },
	{ "url", K_URL, S(url) },
	{ "url_file", K_PATH, S(url_file) },
	{ "token_file", K_PATH, S(token_file) },
	{ "hmac_key_file", K_PATH, S(hmac_key_file) },
	{ "address", K_ADDRESS, S(address) },
	{ "facility", K_FACILITY, S(facility) },
	{ "allow_cleartext", K_BOOL, S(allow_cleartext) },
	{ "ca_file", K_PATH, S(ca_file) },
	{ "max_in_flight", K_COUNT, S(max_in_flight) },
	{ "rate", K_COUNT0, S(rate) },
	{ "digest_after", K_COUNT0, S(digest_after) },
	{ "digest_window", K_DURATION, S(digest_window) },
	{ "index", K_STR, S(index) },
	{ "source", K_STR, S(source) },
	{ "sourcetype", K_STR, S(sourcetype) },
	{ "channel", K_GUID, S(channel) },
	{ "ack_timeout", K_DURATION, S(ack_timeout) },
	{ "format", K_SYSLOG_FORMAT, S(format) },
	{ "sd_id", K_SD_ID, S(sd_id) },
	{ NULL, 0, 0 },
};
#undef S

enum { SK_TYPE, SK_MIN_SEVERITY, SK_RULES, SK_URL, SK_URL_FILE, SK_TOKEN_FILE, SK_HMAC_KEY_FILE, SK_ADDRESS,
       SK_FACILITY, SK_ALLOW_CLEARTEXT, SK_CA_FILE, SK_MAX_IN_FLIGHT, SK_RATE, SK_DIGEST_AFTER, SK_DIGEST_WINDOW,
       SK_INDEX, SK_SOURCE, SK_SOURCETYPE, SK_CHANNEL, SK_ACK_TIMEOUT, SK_FORMAT, SK_SD_ID, SK_N };

#define BIT(k) (1u << (k))
#define SINK_COMMON (BIT(SK_TYPE) | BIT(SK_MIN_SEVERITY) | BIT(SK_RULES) | BIT(SK_DIGEST_AFTER) | BIT(SK_DIGEST_WINDOW))
#define SINK_HTTP (BIT(SK_URL) | BIT(SK_URL_FILE) | BIT(SK_MAX_IN_FLIGHT) | BIT(SK_RATE))
#define SINK_HEC (BIT(SK_TOKEN_FILE) | BIT(SK_INDEX) | BIT(SK_SOURCE) | BIT(SK_SOURCETYPE) | BIT(SK_CHANNEL) | \
                  BIT(SK_ACK_TIMEOUT))
/* The keys each sink type takes, indexed by enum sw_sink_type. */
static const unsigned sink_type_keys[] = {
	[SW_SINK_WEBHOOK] = SINK_COMMON | SINK_HTTP | BIT(SK_HMAC_KEY_FILE),
	[SW_SINK_TEAMS] = SINK_COMMON | SINK_HTTP,
	[SW_SINK_SPLUNK_HEC] = SINK_COMMON | SINK_HTTP | SINK_HEC,
	[SW_SINK_SYSLOG] = SINK_COMMON | BIT(SK_ADDRESS) | BIT(SK_FACILITY) | BIT(SK_ALLOW_CLEARTEXT) | BIT(SK_CA_FILE) |
	                   BIT(SK_FORMAT) | BIT(SK_SD_ID),
	[SW_SINK_JOURNAL] = SINK_COMMON,
};

#define MAX_KEYS 32

/* One section as read: where it is and on which line each key was set. */
struct section_rec {
	enum sec_kind kind;
	char *label; /* "tenant contoso", for messages */
	int line;
	size_t index; /* into tenants[] or sinks[] */
	int key_lines[MAX_KEYS];
	bool type_bad; /* a sink's type was not understood */
	int file;      /* index into cfg_ctx.tfiles; -1: the main config */
};

/* What a handler saw of a tenants_dir file, in order: a section header,
 * a key, or a syntax problem sw_ini_parse reported (sw_tenant_file_cache). */
enum tfc_kind { TFC_SECTION, TFC_KEY, TFC_PROBLEM };
struct tfc_event {
	enum tfc_kind kind;
	int line;
	bool warning; /* TFC_PROBLEM */
	char *a;      /* the header; the key's name; the problem's text */
	char *b;      /* the key's value */
};

/* One file of the cache: what identifies its version, and its parse. */
struct tfc_entry {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
	int parse_r; /* sw_ini_parse's answer: its syntax problems (>= 0) */
	struct tfc_event *ev;
	size_t n_ev, cap_ev;
	bool oom;    /* an event was lost: not kept */
};

/* See config.h: the entries sorted by path (a load's files come in name
 * order, so a load walks both lists side by side). */
struct sw_tenant_file_cache {
	struct tfc_entry *v;
	size_t n;
};

/* One tenants_dir file as read. */
struct tenant_file {
	char *path;
	char *name;    /* of its first [tenant NAME] header, even a refused one */
	int sections;  /* [tenant NAME] headers seen */
	bool bad;      /* a problem in it (or in its tenant's validation) */
};

/* State of one sw_config_load run. */
struct cfg_ctx {
	struct sw_config *cfg;
	struct sw_diag *diag;
	const char *path;
	char *dir; /* the config file's directory, for relative paths */
	struct section_rec *secs;
	size_t n_secs, cap_secs;
	size_t *sec_slots; /* hash index of secs by label: index + 1, 0 empty */
	size_t n_slots;
	size_t cap_tenants; /* of cfg->tenants while loading */
	ssize_t cur; /* index into secs, -1 when keys are ignored */
	bool failed;
	bool oom;
	/* tenants_dir and [tenant-defaults] (see tenants_dir_load) */
	const char *main_path;
	bool main_failed;            /* a problem outside the tenant files */
	struct tenant_file *tfiles;
	size_t n_tfiles;
	int tfile;                   /* the tenant file being read or checked; -1: none */
	struct sw_tenant_config tdef; /* [tenant-defaults], parsed (checks its values once) */
	char *tdef_raw[MAX_KEYS];    /* its values as written, set on each tenant lacking the key */
	/* The last tenant secret file read, and what it holds: the tenants
	 * of [tenant-defaults] share one file, read once a load (10,000 reads
	 * of it, each opening and checking it and its directories, were most
	 * of a reload's system time). */
	char *secret_path;
	char *secret;
	size_t secret_len;
	/* The tenant file cache (NULL: read every file), the entry a file
	 * being read records into, where diag stood after the last handler
	 * call (what sw_ini_parse adds between two is the file's syntax
	 * problems), and how many files were read. */
	struct sw_tenant_file_cache *cache;
	struct tfc_entry *rec;
	size_t diag_mark;
	size_t n_parsed;
};

/* Report an error at a line of the config file. */
static void cfg_error(struct cfg_ctx *x, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cfg_error(struct cfg_ctx *x, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sw_diag_addv(x->diag, false, x->path, line, fmt, ap);
	va_end(ap);
	x->failed = true;
	if (x->tfile >= 0)
		x->tfiles[x->tfile].bad = true;
	else
		x->main_failed = true;
}

/* The key table of a section kind. */
static const struct key_def *section_keys(enum sec_kind k)
{
	switch (k) {
	case SEC_DAEMON:
		return daemon_keys;
	case SEC_RULES:
		return rules_keys;
	case SEC_TENANT:
	case SEC_TDEFAULTS:
		return tenant_keys;
	default:
		return sink_keys;
	}
}

/* The struct a section's keys are stored in. */
static void *section_obj(struct cfg_ctx *x, const struct section_rec *s)
{
	switch (s->kind) {
	case SEC_DAEMON:
		return &x->cfg->daemon;
	case SEC_RULES:
		return &x->cfg->rules;
	case SEC_TENANT:
		return &x->cfg->tenants[s->index];
	case SEC_TDEFAULTS:
		return &x->tdef;
	default:
		return &x->cfg->sinks[s->index];
	}
}

/* strdup that records OOM in the context. */
static char *cfg_strdup(struct cfg_ctx *x, const char *s)
{
	char *r = strdup(s);

	if (r == NULL)
		x->oom = true;
	return r;
}

/* Tenant and sink names: what a CLI argument and a store key can carry. */
static bool name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

/* A tenant's default values but its strings (tenant_default_strings). */
static void tenant_default_values(struct sw_tenant_config *t)
{
	t->signins_interval = 5 * 60;
	t->signins_lookback = 2 * 3600;
	t->initial_backfill = 7 * 86400;
	t->config_interval = 3600;
	t->audit = false;
	t->audit_interval = 15 * 60;
	t->usage = true;
	t->usage_interval = 86400;
	t->trace = false;
	t->trace_interval = 3600;
	t->remediation = SW_REMEDIATION_OFF;
	t->remediation_max_per_hour = 10;
}

/* The string defaults of what neither the tenant's section nor
 * [tenant-defaults] set: after both are read, so that 10,000 tenants do
 * not each allocate and free the strings [tenant-defaults] replaces. */
static void tenant_default_strings(struct cfg_ctx *x, struct sw_tenant_config *t)
{
	if (t->assertion_alg == NULL)
		t->assertion_alg = cfg_strdup(x, "PS256");
	if (t->login_url == NULL)
		t->login_url = cfg_strdup(x, "https://login.microsoftonline.com");
	if (t->graph_url == NULL)
		t->graph_url = cfg_strdup(x, "https://graph.microsoft.com");
	if (t->exchange_url == NULL)
		t->exchange_url = cfg_strdup(x, "https://outlook.office365.com");
	if (t->manage_url == NULL)
		t->manage_url = cfg_strdup(x, "https://manage.office.com");
	if (t->remediate_rules != NULL)
		return;
	t->remediate_rules = calloc(3, sizeof(char *));
	if (t->remediate_rules == NULL) {
		x->oom = true;
		return;
	}
	t->remediate_rules[0] = cfg_strdup(x, "unapproved-mailbox-exception");
	t->remediate_rules[1] = cfg_strdup(x, "exception-expired");
}

/* Set a tenant's defaults. */
static void tenant_defaults(struct cfg_ctx *x, struct sw_tenant_config *t)
{
	tenant_default_values(t);
	tenant_default_strings(x, t);
}

/* Set a sink's defaults (the syslog address is set once the type is known). */
static void sink_defaults(struct sw_sink_config *s)
{
	s->type = SW_SINK_JOURNAL;
	s->min_severity = SW_SEV_INFO;
	s->rules = NULL;
	s->facility = 10; /* authpriv */
	s->digest_after = 10;
	s->digest_window = 300;
	s->ack_timeout = 120;
}

/* a, b and c end to end in a new string (NULL on OOM): asprintf's
 * formatting was a tenth of a cached load of 10,000 files. */
static char *str_join3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *r = malloc(la + lb + lc + 1);

	if (r == NULL)
		return NULL;
	memcpy(r, a, la);
	memcpy(r + la, b, lb);
	memcpy(r + la + lb, c, lc + 1);
	return r;
}

/* FNV-1a of a section label. */
static uint64_t label_hash(const char *label)
{
	uint64_t h = 14695981039346656037u;

	for (const unsigned char *p = (const unsigned char *)label; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211u;
	return h;
}

/* Put section i in the hash index (open addressing, linear probing). */
static void section_slot_put(size_t *slots, size_t n_slots, const struct section_rec *secs, size_t i)
{
	size_t k = label_hash(secs[i].label) & (n_slots - 1);

	while (slots[k] != 0)
		k = (k + 1) & (n_slots - 1);
	slots[k] = i + 1;
}

/* Add a section record and index it by label; NULL on OOM.  The index
 * keeps the duplicate check linear in the number of sections (a config
 * of 10,000 tenants would compare every pair). */
static struct section_rec *section_add(struct cfg_ctx *x, enum sec_kind kind, const char *type, const char *name,
                                       int line)
{
	struct section_rec *s;

	if (x->n_secs == x->cap_secs) {
		size_t cap = x->cap_secs ? 2 * x->cap_secs : 16;
		struct section_rec *secs = realloc(x->secs, cap * sizeof(*secs));
		if (secs == NULL) {
			x->oom = true;
			return NULL;
		}
		x->secs = secs;
		x->cap_secs = cap;
	}
	if (2 * (x->n_secs + 1) > x->n_slots) {
		size_t n_slots = x->n_slots ? 2 * x->n_slots : 64;
		size_t *slots = calloc(n_slots, sizeof(*slots));
		if (slots == NULL) {
			x->oom = true;
			return NULL;
		}
		for (size_t i = 0; i < x->n_secs; i++)
			section_slot_put(slots, n_slots, x->secs, i);
		free(x->sec_slots);
		x->sec_slots = slots;
		x->n_slots = n_slots;
	}
	s = &x->secs[x->n_secs];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->line = line;
	s->label = str_join3(type, name ? " " : "", name ? name : "");
	if (s->label == NULL) {
		x->oom = true;
		return NULL;
	}
	section_slot_put(x->sec_slots, x->n_slots, x->secs, x->n_secs);
	x->n_secs++;
	return s;
}

/* Room for n more sections and tenants, known before a tenants_dir's
 * files are read (10,000 of them grew the arrays by doubling, each time
 * copying every tenant, and rebuilt the label index as often). */
static void sections_reserve(struct cfg_ctx *x, size_t n)
{
	size_t want = x->n_secs + n, tw = x->cfg->n_tenants + n, n_slots = x->n_slots ? x->n_slots : 64;

	if (want > x->cap_secs) {
		struct section_rec *secs = realloc(x->secs, want * sizeof(*secs));
		if (secs == NULL) {
			x->oom = true;
			return;
		}
		x->secs = secs;
		x->cap_secs = want;
	}
	if (tw > x->cap_tenants) {
		struct sw_tenant_config *t = realloc(x->cfg->tenants, tw * sizeof(*t));
		if (t == NULL) {
			x->oom = true;
			return;
		}
		x->cfg->tenants = t;
		x->cap_tenants = tw;
	}
	while (2 * (want + 1) > n_slots)
		n_slots *= 2;
	if (n_slots > x->n_slots) {
		size_t *slots = calloc(n_slots, sizeof(*slots));
		if (slots == NULL) {
			x->oom = true;
			return;
		}
		for (size_t i = 0; i < x->n_secs; i++)
			section_slot_put(slots, n_slots, x->secs, i);
		free(x->sec_slots);
		x->sec_slots = slots;
		x->n_slots = n_slots;
	}
}

/* Find an earlier section of the same kind and name. */
static const struct section_rec *section_find(struct cfg_ctx *x, const char *label)
{
	if (x->n_slots == 0)
		return NULL;
	for (size_t k = label_hash(label) & (x->n_slots - 1); x->sec_slots[k] != 0; k = (k + 1) & (x->n_slots - 1))
		if (strcmp(x->secs[x->sec_slots[k] - 1].label, label) == 0)
			return &x->secs[x->sec_slots[k] - 1];
	return NULL;
}

/* A section header in a tenants_dir file: one [tenant NAME] and nothing
 * else (a key before it is sw_ini_parse's "outside of any [section]").  0, or -1 with the problem reported. */
static int tenant_file_section(struct cfg_ctx *x, int line, enum sec_kind kind, const char *header, const char *name)
{
	struct tenant_file *f = &x->tfiles[x->tfile];

	if (f->sections++ > 0) {
		cfg_error(x, line, "a second section [%s] in a tenants_dir file: one tenant a file", header);
		return -1;
	}
	if (kind != SEC_TENANT) {
		cfg_error(x, line, "[%s] in a tenants_dir file: it holds one [tenant NAME] section only", header);
		return -1;
	}
	if (name != NULL && f->name == NULL && (f->name = cfg_strdup(x, name)) == NULL)
		return -1;
	return 0;
}

/* A section header: start a tenant or sink, or ignore what follows. */
static void cfg_section_cb(void *user, int line, const char *header)
{
	struct cfg_ctx *x = user;
	char type[64], label[256];
	const char *name;
	size_t tlen = strcspn(header, " \t");
	enum sec_kind kind;
	const struct section_rec *prev;
	struct section_rec *s;

	x->cur = -1;
	name = header + tlen;
	while (isspace((unsigned char)*name))
		name++;
	if (*name == '\0')
		name = NULL;
	snprintf(type, sizeof(type), "%.*s", (int)(tlen < sizeof(type) ? tlen : sizeof(type) - 1), header);
	if (strcmp(type, "daemon") == 0)
		kind = SEC_DAEMON;
	else if (strcmp(type, "rules") == 0)
		kind = SEC_RULES;
	else if (strcmp(type, "tenant") == 0)
		kind = SEC_TENANT;
	else if (strcmp(type, "sink") == 0)
		kind = SEC_SINK;
	else if (strcmp(type, "tenant-defaults") == 0)
		kind = SEC_TDEFAULTS;
	else {
		cfg_error(x, line, "unknown section [%s]", header);
		return;
	}
	if (x->tfile >= 0 && tenant_file_section(x, line, kind, header, name) < 0)
		return;
	if ((kind == SEC_DAEMON || kind == SEC_RULES || kind == SEC_TDEFAULTS) && name != NULL) {
		cfg_error(x, line, "section [%s] takes no name: [%s]", header, type);
		return;
	}
	if ((kind == SEC_TENANT || kind == SEC_SINK) && name == NULL) {
		cfg_error(x, line, "section [%s] needs a name: [%s NAME]", type, type);
		return;
	}
	if (name != NULL && !name_valid(name)) {
		cfg_error(x, line, "[%s]: invalid name \"%s\" (letters, digits, '-', '_', '.'; at most 64)", header,
		          name);
		return;
	}
	snprintf(label, sizeof(label), "%s%s%s", type, name ? " " : "", name ? name : "");
	prev = section_find(x, label);
	if (prev != NULL && (prev->file >= 0 || x->tfile >= 0)) {
		cfg_error(x, line, "duplicate section [%s] (first at %s:%d)", label,
		          prev->file >= 0 ? x->tfiles[prev->file].path : x->main_path, prev->line);
		return;
	}
	if (prev != NULL) {
		cfg_error(x, line, "duplicate section [%s] (first at line %d)", label, prev->line);
		return;
	}
	if (kind == SEC_TENANT) {
		struct sw_tenant_config *t = x->cfg->tenants;
		if (x->cfg->n_tenants == x->cap_tenants) {
			size_t cap = x->cap_tenants ? 2 * x->cap_tenants : 8;
			t = realloc(x->cfg->tenants, cap * sizeof(*t));
			if (t == NULL) {
				x->oom = true;
				return;
			}
			x->cfg->tenants = t;
			x->cap_tenants = cap;
		}
		t = &t[x->cfg->n_tenants++];
		memset(t, 0, sizeof(*t));
		t->name = cfg_strdup(x, name);
		t->line = line;
		tenant_default_values(t); /* its strings after [tenant-defaults] */
	} else if (kind == SEC_SINK) {
		struct sw_sink_config *k = realloc(x->cfg->sinks, (x->cfg->n_sinks + 1) * sizeof(*k));
		if (k == NULL) {
			x->oom = true;
			return;
		}
		x->cfg->sinks = k;
		k = &k[x->cfg->n_sinks++];
		memset(k, 0, sizeof(*k));
		k->name = cfg_strdup(x, name);
		k->line = line;
		sink_defaults(k);
	}
	s = section_add(x, kind, type, name, line);
	if (s == NULL)
		return;
	s->file = x->tfile;
	if (kind == SEC_TENANT && x->tfile >= 0 && (x->cfg->tenants[x->cfg->n_tenants - 1].file =
	                                                 cfg_strdup(x, x->tfiles[x->tfile].path)) == NULL)
		return;
	s->index = kind == SEC_TENANT ? x->cfg->n_tenants - 1 : kind == SEC_SINK ? x->cfg->n_sinks - 1 : 0;
	x->cur = (ssize_t)(x->n_secs - 1);
}

/* Make a config path absolute against the config file's directory. */
static char *resolve_path(struct cfg_ctx *x, const char *value)
{
	char *r = NULL;

	if (value[0] == '/')
		return cfg_strdup(x, value);
	if (asprintf(&r, "%s/%s", x->dir, value) < 0) {
		x->oom = true;
		return NULL;
	}
	return r;
}

/* Is a syslog address unix:/PATH, udp://HOST:PORT, tcp://HOST:PORT or
 * tls://HOST:PORT? */
/* A GUID as Splunk's channels are written: 8-4-4-4-12 hex digits. */
static bool guid_valid(const char *v)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (strlen(v) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i] != '\0'; i++)
		if (shape[i] == '-' ? v[i] != '-' : !isxdigit((unsigned char)v[i]))
			return false;
	return true;
}

static bool address_valid(const char *a)
{
	const char *h, *end, *port;
	char *pend;
	long p;

	if (strncmp(a, "unix:", 5) == 0)
		return a[5] == '/' && a[6] != '\0';
	if (strncmp(a, "udp://", 6) != 0 && strncmp(a, "tcp://", 6) != 0 && strncmp(a, "tls://", 6) != 0)
		return false;
	h = a + 6;
	if (*h == '[') {
		end = strchr(h, ']');
		if (end == NULL || end == h + 1 || end[1] != ':')
			return false;
		port = end + 2;
	} else {
		end = strrchr(h, ':');
		if (end == NULL || end == h || memchr(h, ':', (size_t)(end - h)) != NULL)
			return false;
		port = end + 1;
	}
	if (!isdigit((unsigned char)*port))
		return false;
	errno = 0;
	p = strtol(port, &pend, 10);
	return errno == 0 && *pend == '\0' && p >= 1 && p <= 65535;
}

/* See config.h.  The port is required: a default would hide which one
 * Prometheus must be told. */
int sw_listen_parse(const char *s, struct sw_listen *ret, char *why, size_t n)
{
	static const char usage[] = "expected IPV4:PORT, [IPV6]:PORT or unix:/PATH";
	struct sw_listen l = { 0 };
	unsigned char a[16];
	const char *host, *port;
	size_t hlen;
	char *end;
	long p;

	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] != '/' || s[6] == '\0' || strlen(s + 5) >= sizeof(l.path)) {
			snprintf(why, n, "unix: needs an absolute path of at most %zu bytes, not \"%s\"", sizeof(l.path) - 1,
			         s);
			return -EINVAL;
		}
		l.family = SW_LISTEN_UNIX;
		l.loopback = true;
		snprintf(l.path, sizeof(l.path), "%s", s + 5);
		*ret = l;
		return 0;
	}
	host = s;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(why, n, "%s, not \"%s\"", usage, s);
			return -EINVAL;
		}
		host = s + 1;
		hlen = (size_t)(close - host);
		port = close + 2;
		l.family = SW_LISTEN_INET6;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL) {
			snprintf(why, n, "%s (an IPv6 address goes in brackets), not \"%s\"", usage, s);
			return -EINVAL;
		}
		hlen = (size_t)(colon - s);
		port = colon + 1;
		l.family = SW_LISTEN_INET;
	}
	if (hlen == 0 || hlen >= sizeof(l.host)) {
		snprintf(why, n, "%s, not \"%s\"", usage, s);
		return -EINVAL;
	}
	memcpy(l.host, host, hlen);
	if (inet_pton(l.family == SW_LISTEN_INET ? AF_INET : AF_INET6, l.host, a) != 1) {
		snprintf(why, n, "\"%s\" is not a numeric IP%s address (%s)", l.host,
		         l.family == SW_LISTEN_INET ? "v4" : "v6", usage);
		return -EINVAL;
	}
	errno = 0;
	p = isdigit((unsigned char)*port) ? strtol(port, &end, 10) : -1;
	if (p < 1 || p > 65535 || errno != 0 || *end != '\0') {
		snprintf(why, n, "port \"%s\" is not a number from 1 to 65535", port);
		return -EINVAL;
	}
	l.port = (unsigned)p;
	if (l.family == SW_LISTEN_INET) {
		l.loopback = a[0] == 127;
	} else {
		static const unsigned char one[16] = { [15] = 1 };
		l.loopback = memcmp(a, one, 16) == 0;
	}
	*ret = l;
	return 0;
}

/* metrics_listen serves tenant and sink names and the alert counts:
 * anywhere but loopback or a unix socket needs metrics_allow_remote. */
static void daemon_validate(struct cfg_ctx *x, const struct section_rec *s, const struct sw_daemon_config *d)
{
	struct sw_listen l;
	char why[160];
	int line = 0;

	if (d->metrics_listen == NULL || d->metrics_allow_remote ||
	    sw_listen_parse(d->metrics_listen, &l, why, sizeof(why)) < 0 || l.loopback)
		return;
	for (size_t i = 0; daemon_keys[i].name != NULL; i++)
		if (strcmp(daemon_keys[i].name, "metrics_listen") == 0)
			line = s->key_lines[i];
	cfg_error(x, line,
	          "metrics_listen %s is not a loopback address: anyone who reaches it reads tenant and sink names and "
	          "alert counts; listen on 127.0.0.1, [::1] or unix:/PATH, or set metrics_allow_remote = yes",
	          d->metrics_listen);
}

/* An SD-ID of our own (RFC 5424 6.3.2 and 7.2.2): NAME@PEN, at most 32
 * printable ASCII characters but '=', ']', '"' and space; one '@' (a
 * name without one is reserved for IANA-registered SD-IDs); the PEN
 * decimal, sub-identifiers separated by dots. */
static bool sd_id_valid(const char *s)
{
	const char *at = strchr(s, '@'), *p;
	size_t n = strlen(s);

	if (n == 0 || n > 32 || at == NULL || at == s || strchr(at + 1, '@') != NULL)
		return false;
	for (p = s; p < at; p++)
		if (*p < 33 || *p > 126 || *p == '=' || *p == ']' || *p == '"')
			return false;
	for (p = at + 1;; p++) {
		size_t d = strspn(p, "0123456789");
		if (d == 0)
			return false;
		p += d;
		if (*p == '\0')
			return true;
		if (*p != '.')
			return false;
	}
}

/* A syslog ca_file must hold at least one PEM certificate: found here
 * by --check-config, not at the first alert. */
static void ca_file_check(struct cfg_ctx *x, int line, const char *label, const char *path)
{
	FILE *f = fopen(path, "re");
	X509 *cert;

	if (f == NULL) {
		cfg_error(x, line, "[%s]: ca_file %s: %s", label, path, strerror(errno));
		return;
	}
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (cert == NULL)
		cfg_error(x, line, "[%s]: ca_file %s holds no PEM certificate", label, path);
	X509_free(cert);
}

/* Split a comma list of rule names; "*" gives NULL (every rule). */
static int rules_parse(struct cfg_ctx *x, int line, const char *value, char ***ret)
{
	char *copy = cfg_strdup(x, value), *rest = copy, *tok;
	char **list = NULL;
	size_t n = 0;
	bool all = false, bad = false;

	if (copy == NULL)
		return -ENOMEM;
	while ((tok = strsep(&rest, ",")) != NULL) {
		char **l;
		tok = sw_strtrim(tok);
		if (strcmp(tok, "*") == 0) {
			all = true;
			continue;
		}
		if (*tok == '\0') {
			cfg_error(x, line, "rules: empty rule name in the list");
			bad = true;
			continue;
		}
		if (!sw_rule_known(tok)) {
			cfg_error(x, line, "rules: unknown rule \"%s\"", tok);
			bad = true;
			continue;
		}
		l = realloc(list, (n + 2) * sizeof(*l));
		if (l == NULL) {
			x->oom = bad = true;
			break;
		}
		list = l;
		list[n] = strdup(tok);
		if (list[n] == NULL) {
			x->oom = bad = true;
			break;
		}
		list[++n] = NULL;
	}
	if (!bad && !all && n == 0) {
		cfg_error(x, line, "rules: empty list (use * for every rule)");
		bad = true;
	}
	if (!bad && all && n > 0) {
		cfg_error(x, line, "rules: * stands for every rule and cannot be combined with names");
		bad = true;
	}
	free(copy);
	if (bad || all) {
		for (size_t i = 0; i < n; i++)
			free(list[i]);
		free(list);
		list = NULL;
	}
	if (bad)
		return -EINVAL;
	*ret = list;
	return 0;
}

/* Free a NULL-terminated string list. */
static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* remediate_rules: a comma list of the mailbox rules remediation can act
 * on.  The tenant switch is never auto mode's to turn off. */
static int remedy_rules_parse(struct cfg_ctx *x, int line, const char *value, char ***ret)
{
	char *copy = cfg_strdup(x, value), *rest = copy, *tok;
	char **list = calloc(1, sizeof(*list));
	size_t n = 0;
	bool bad = false;

	if (copy == NULL || list == NULL) {
		x->oom = true;
		bad = true;
	}
	while (!bad && (tok = strsep(&rest, ",")) != NULL) {
		char **l;
		tok = sw_strtrim(tok);
		if (strcmp(tok, "tenant-smtp-auth-enabled") == 0) {
			cfg_error(x, line, "remediate_rules: tenant-smtp-auth-enabled is never remediated automatically "
			          "(smtpwatchctl remediate ID --tenant-switch does it by hand)");
			bad = true;
			break;
		}
		if (!sw_rule_remediable(tok, false)) {
			cfg_error(x, line, "remediate_rules: \"%s\" is not a rule remediation acts on "
			          "(unapproved-mailbox-exception, exception-expired, unapproved-basic-auth-submission)", tok);
			bad = true;
			break;
		}
		l = realloc(list, (n + 2) * sizeof(*l));
		if (l == NULL || (l[n] = strdup(tok)) == NULL) {
			if (l != NULL)
				list = l;
			x->oom = bad = true;
			break;
		}
		list = l;
		list[++n] = NULL;
	}
	free(copy);
	if (bad) {
		strv_free(list);
		return -EINVAL;
	}
	*ret = list;
	return 0;
}

/* See config.h. */
const char *const sw_manage_urls[] = {
	"https://manage.office.com",          /* commercial */
	"https://manage-gcc.office.com",      /* GCC */
	"https://manage.office365.us",        /* GCC High */
	"https://manage.protection.apps.mil", /* DoD */
	NULL,
};

/* Is this one of the documented Management API hosts (any trailing '/'),
 * or a loopback URL (the simulator)?  A bearer token for the resource goes
 * wherever this points, so nothing else is taken. */
static bool manage_url_known(const char *v)
{
	size_t n = strlen(v);

	if (sw_url_is_loopback(v))
		return true;
	while (n > 0 && v[n - 1] == '/')
		n--;
	for (size_t i = 0; sw_manage_urls[i] != NULL; i++)
		if (strlen(sw_manage_urls[i]) == n && strncasecmp(v, sw_manage_urls[i], n) == 0)
			return true;
	return false;
}

/* Parse one value into the section's struct. */
static void cfg_set(struct cfg_ctx *x, int line, const struct key_def *k, void *obj, const char *value)
{
	char **str = (char **)((char *)obj + k->offset);
	int64_t *num = (int64_t *)((char *)obj + k->offset);
	char why[160];
	int64_t v;
	char *end;

	if (*value == '\0' && k->kind != K_STR_EMPTY && k->kind != K_PROXY) {
		cfg_error(x, line, "%s: empty value", k->name);
		return;
	}
	switch (k->kind) {
	case K_STR:
	case K_STR_EMPTY:
		free(*str);
		*str = cfg_strdup(x, value);
		break;
	case K_PATH:
		free(*str);
		*str = resolve_path(x, value);
		break;
	case K_PROXY:
		if (sw_proxy_check(value, why, sizeof(why)) < 0) {
			cfg_error(x, line, "proxy: %s", why);
			break;
		}
		free(*str);
		*str = *value != '\0' ? cfg_strdup(x, value) : NULL;
		break;
	case K_MANAGEURL:
		if (sw_url_check(value, why, sizeof(why)) < 0) {
			cfg_error(x, line, "%s: %s", k->name, why);
			break;
		}
		if (!manage_url_known(value)) {
			cfg_error(x, line, "%s: \"%s\" is not a Management Activity API host (https://manage.office.com, "
			          "https://manage-gcc.office.com, https://manage.office365.us, "
			          "https://manage.protection.apps.mil)", k->name, value);
			break;
		}
		/* fall through */
	case K_BASEURL:
	case K_URL:
		if (sw_url_check(value, why, sizeof(why)) < 0) {
			cfg_error(x, line, "%s: %s", k->name, why);
			break;
		}
		free(*str);
		*str = cfg_strdup(x, value);
		if (*str != NULL && (k->kind == K_BASEURL || k->kind == K_MANAGEURL)) {
			size_t n = strlen(*str);
			while (n > 0 && (*str)[n - 1] == '/')
				(*str)[--n] = '\0';
		}
		break;
	case K_DURATION:
	case K_DURATION0:
		if (sw_duration_parse(value, &v) < 0) {
			cfg_error(x, line, "%s: invalid duration \"%s\" (e.g. 30s, 5m, 2h, 7d)", k->name, value);
			break;
		}
		if (v == 0 && k->kind == K_DURATION) {
			cfg_error(x, line, "%s: must be longer than 0", k->name);
			break;
		}
		*num = v;
		break;
	case K_COUNT:
	case K_COUNT0:
		errno = 0;
		v = isdigit((unsigned char)*value) ? strtoll(value, &end, 10) : -1;
		if (v < 0 || (v == 0 && k->kind == K_COUNT) || errno != 0 || *end != '\0') {
			cfg_error(x, line, "%s: expected a %s integer, not \"%s\"", k->name,
			          k->kind == K_COUNT ? "positive" : "non-negative", value);
			break;
		}
		*num = v;
		break;
	case K_GUID:
		if (!guid_valid(value)) {
			cfg_error(x, line, "%s: expected a GUID (8-4-4-4-12 hex digits), not \"%s\"", k->name, value);
			break;
		}
		free(*str);
		*str = cfg_strdup(x, value);
		break;
	case K_ALG:
		if (strcmp(value, "PS256") != 0 && strcmp(value, "RS256") != 0) {
			cfg_error(x, line, "assertion_alg: must be PS256 or RS256, not \"%s\"", value);
			break;
		}
		free(*str);
		*str = cfg_strdup(x, value);
		break;
	case K_SINKTYPE:
		if (sw_sink_type_parse(value, (enum sw_sink_type *)((char *)obj + k->offset)) < 0) {
			x->secs[x->cur].type_bad = true;
			cfg_error(x, line, "[%s]: unknown type \"%s\" (webhook, teams, splunk-hec, syslog, journal)",
			          x->secs[x->cur].label, value);
		}
		break;
	case K_SEVERITY:
		if (sw_severity_parse(value, (enum sw_severity *)((char *)obj + k->offset)) < 0)
			cfg_error(x, line, "%s: unknown severity \"%s\" (info, low, medium, high, critical)", k->name,
			          value);
		break;
	case K_RULES: {
		char **list = NULL;
		if (rules_parse(x, line, value, &list) == 0) {
			strv_free(*(char ***)str);
			*(char ***)str = list;
		}
		break;
	}
	case K_REMEDIATION:
		if (sw_remediation_mode_parse(value, (enum sw_remediation_mode *)((char *)obj + k->offset)) < 0)
			cfg_error(x, line, "remediation: expected off, manual or auto, not \"%s\"", value);
		break;
	case K_REMEDY_RULES: {
		char **list = NULL;
		if (remedy_rules_parse(x, line, value, &list) == 0) {
			strv_free(*(char ***)str);
			*(char ***)str = list;
		}
		break;
	}
	case K_ADDRESS:
		if (!address_valid(value)) {
			cfg_error(x, line,
			          "address: expected unix:/PATH, udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT, "
			          "not \"%s\"", value);
			break;
		}
		free(*str);
		*str = cfg_strdup(x, value);
		break;
	case K_LISTEN: {
		struct sw_listen l;
		if (sw_listen_parse(value, &l, why, sizeof(why)) < 0) {
			cfg_error(x, line, "%s: %s", k->name, why);
			break;
		}
		free(*str);
		*str = cfg_strdup(x, value);
		break;
	}
	case K_SYSLOG_FORMAT:
		if (sw_syslog_format_parse(value, (enum sw_syslog_format *)((char *)obj + k->offset)) < 0)
			cfg_error(x, line, "format: unknown format \"%s\" (auto, rfc5424, rfc3164)", value);
		break;
	case K_SD_ID:
		if (!sd_id_valid(value)) {
			cfg_error(x, line,
			          "sd_id: expected NAME@PEN, PEN your organisation's IANA private enterprise number "
			          "(RFC 5424 section 7.2.2), at most 32 printable characters without = ] \" or space, not \"%s\"",
			          value);
			break;
		}
		if (strcmp(strchr(value, '@') + 1, "32473") == 0 || strncmp(strchr(value, '@') + 1, "32473.", 6) == 0)
			sw_diag_add(x->diag, true, x->path, line,
			            "sd_id %s: 32473 is the enterprise number reserved for documentation (RFC 5612); "
			            "use your organisation's own", value);
		free(*str);
		*str = cfg_strdup(x, value);
		break;
	case K_FACILITY:
		if (sw_facility_parse(value, (int *)((char *)obj + k->offset)) < 0)
			cfg_error(x, line, "facility: unknown facility \"%s\" (e.g. authpriv, daemon, local0)", value);
		break;
	case K_BOOL:
		if (sw_bool_parse(value, (bool *)((char *)obj + k->offset)) < 0)
			cfg_error(x, line, "%s: expected yes or no, not \"%s\"", k->name, value);
		break;
	}
}

/* A key: find it in the section's table and parse it. */
static void cfg_key_cb(void *user, int line, const char *section, const char *name, const char *value)
{
	struct cfg_ctx *x = user;
	struct section_rec *s;
	const struct key_def *keys;
	size_t i;

	(void)section;
	if (x->cur < 0)
		return;
	s = &x->secs[x->cur];
	keys = section_keys(s->kind);
	for (i = 0; keys[i].name != NULL; i++)
		if (strcmp(keys[i].name, name) == 0)
			break;
	if (keys[i].name == NULL) {
		cfg_error(x, line, "unknown key \"%s\" in [%s]", name, s->label);
		return;
	}
	if (s->key_lines[i] != 0) {
		cfg_error(x, line, "duplicate key \"%s\" in [%s] (first at line %d)", name, s->label, s->key_lines[i]);
		return;
	}
	s->key_lines[i] = line;
	if (s->kind == SEC_TDEFAULTS) {
		bool failed = x->failed;
		x->failed = false;
		cfg_set(x, line, &keys[i], section_obj(x, s), value);
		/* Only a value that parses is handed to the tenants (once reported). */
		if (!x->failed && (x->tdef_raw[i] = cfg_strdup(x, value)) == NULL)
			return;
		x->failed = x->failed || failed;
		return;
	}
	cfg_set(x, line, &keys[i], section_obj(x, s), value);
}

/* The line a tenant key was set on (0: not set). */
static int tenant_key_line(const struct section_rec *s, const char *name)
{
	for (size_t i = 0; tenant_keys[i].name != NULL; i++)
		if (strcmp(tenant_keys[i].name, name) == 0)
			return s->key_lines[i];
	return 0;
}

/* sw_secret_read for a tenant key, through the load's one-file cache. */
static int cfg_secret_read(struct cfg_ctx *x, const char *path, char **ret, char *why, size_t n)
{
	int r;

	if (x->secret_path != NULL && strcmp(x->secret_path, path) == 0) {
		*ret = sw_secret_alloc(x->secret_len + 1);
		if (*ret == NULL) {
			snprintf(why, n, "out of memory");
			return -ENOMEM;
		}
		memcpy(*ret, x->secret, x->secret_len + 1);
		return 0;
	}
	r = sw_secret_read(path, ret, &x->secret_len, why, n);
	if (r < 0)
		return r;
	free(x->secret_path);
	sw_free_secret(x->secret);
	x->secret_path = strdup(path);
	x->secret = sw_secret_alloc(x->secret_len + 1);
	if (x->secret_path == NULL || x->secret == NULL) {
		free(x->secret_path);
		sw_free_secret(x->secret);
		x->secret_path = x->secret = NULL;
		return 0; /* the secret is read; only the cache is lost */
	}
	memcpy(x->secret, *ret, x->secret_len + 1);
	return 0;
}

/* The write credentials: a client id with exactly one of a secret or a
 * certificate, or none of the three. */
static void remediation_validate(struct cfg_ctx *x, const struct section_rec *s, struct sw_tenant_config *t)
{
	int id = tenant_key_line(s, "remediation_client_id");
	int sec = tenant_key_line(s, "remediation_client_secret_file");
	int cert = tenant_key_line(s, "remediation_certificate_file");
	char why[160];

	if (id == 0 && sec == 0 && cert == 0)
		return;
	if (id == 0) {
		cfg_error(x, sec ? sec : cert, "[%s]: remediation_client_id is required with %s", s->label,
		          sec ? "remediation_client_secret_file" : "remediation_certificate_file");
		return;
	}
	if (sec == 0 && cert == 0) {
		cfg_error(x, id, "[%s]: remediation_client_id needs remediation_client_secret_file or "
		          "remediation_certificate_file", s->label);
		return;
	}
	if (sec != 0 && cert != 0) {
		cfg_error(x, sec > cert ? sec : cert, "[%s]: set either remediation_client_secret_file or "
		          "remediation_certificate_file, not both", s->label);
		return;
	}
	if (t->remediation_client_secret_file != NULL &&
	    cfg_secret_read(x, t->remediation_client_secret_file, &t->remediation_client_secret, why, sizeof(why)) < 0)
		cfg_error(x, sec, "remediation_client_secret_file %s: %s", t->remediation_client_secret_file, why);
	if (t->remediation_certificate_file != NULL && secret_check(t->remediation_certificate_file, why, sizeof(why)) < 0)
		cfg_error(x, cert, "remediation_certificate_file %s: %s", t->remediation_certificate_file, why);
}

/* Check a tenant's required keys and load its secret. */
static void tenant_validate(struct cfg_ctx *x, const struct section_rec *s, struct sw_tenant_config *t)
{
	char why[160];
	int line;

	if (s->key_lines[TK_TENANT_ID] == 0)
		cfg_error(x, s->line, "[%s]: tenant_id is required", s->label);
	if (s->key_lines[TK_CLIENT_ID] == 0)
		cfg_error(x, s->line, "[%s]: client_id is required", s->label);
	if (s->key_lines[TK_SECRET_FILE] == 0 && s->key_lines[TK_CERT_FILE] == 0) {
		cfg_error(x, s->line, "[%s]: client_secret_file or certificate_file is required", s->label);
		return;
	}
	if (s->key_lines[TK_SECRET_FILE] != 0 && s->key_lines[TK_CERT_FILE] != 0) {
		line = s->key_lines[TK_SECRET_FILE] > s->key_lines[TK_CERT_FILE] ? s->key_lines[TK_SECRET_FILE]
		                                                                   : s->key_lines[TK_CERT_FILE];
		cfg_error(x, line, "[%s]: set either client_secret_file or certificate_file, not both", s->label);
		return;
	}
	if (t->client_secret_file != NULL &&
	    cfg_secret_read(x, t->client_secret_file, &t->client_secret, why, sizeof(why)) < 0)
		cfg_error(x, s->key_lines[TK_SECRET_FILE], "client_secret_file %s: %s", t->client_secret_file, why);
	if (t->certificate_file != NULL && secret_check(t->certificate_file, why, sizeof(why)) < 0)
		cfg_error(x, s->key_lines[TK_CERT_FILE], "certificate_file %s: %s", t->certificate_file, why);
	remediation_validate(x, s, t);
}

#define SINK_MAX_IN_FLIGHT 32 /* http.c allows more connections to a host than this */
#define SINK_MAX_RATE 100000

/* The delivery keys whose defaults depend on the type, and their bounds. */
static void sink_delivery_defaults(struct cfg_ctx *x, const struct section_rec *s, struct sw_sink_config *k)
{
	const int *kl = s->key_lines;

	if (kl[SK_MAX_IN_FLIGHT] == 0)
		k->max_in_flight = k->type == SW_SINK_WEBHOOK || k->type == SW_SINK_SPLUNK_HEC ? 4 : 1;
	else if (k->max_in_flight > SINK_MAX_IN_FLIGHT)
		cfg_error(x, kl[SK_MAX_IN_FLIGHT], "[%s]: max_in_flight is at most %d", s->label, SINK_MAX_IN_FLIGHT);
	if (kl[SK_RATE] == 0)
		k->rate = k->type == SW_SINK_TEAMS ? 20 : 0;
	else if (k->rate > SINK_MAX_RATE)
		cfg_error(x, kl[SK_RATE], "[%s]: rate is at most %d a minute (0: unlimited)", s->label, SINK_MAX_RATE);
	if (k->type == SW_SINK_SPLUNK_HEC) {
		if (k->source == NULL)
			k->source = cfg_strdup(x, "smtpwatch");
		if (k->sourcetype == NULL)
			k->sourcetype = cfg_strdup(x, "smtpwatch:alert");
	}
}

/* Check a sink's keys against its type and load its secrets. */
static void sink_validate(struct cfg_ctx *x, const struct section_rec *s, struct sw_sink_config *k)
{
	const int *kl = s->key_lines;
	char why[160];
	unsigned allowed;

	if (kl[SK_TYPE] == 0) {
		cfg_error(x, s->line, "[%s]: type is required (webhook, teams, splunk-hec, syslog, journal)", s->label);
		return;
	}
	if (s->type_bad)
		return; /* reported where it was set */
	allowed = sink_type_keys[k->type];
	for (int i = 0; i < SK_N; i++) {
		if (kl[i] != 0 && !(allowed & BIT(i)))
			cfg_error(x, kl[i], "[%s]: %s is not used by type %s", s->label, sink_keys[i].name,
			          sw_sink_type_name(k->type));
	}
	switch (k->type) {
	case SW_SINK_WEBHOOK:
	case SW_SINK_TEAMS:
	case SW_SINK_SPLUNK_HEC:
		if (kl[SK_URL] == 0 && kl[SK_URL_FILE] == 0)
			cfg_error(x, s->line, "[%s]: url or url_file is required", s->label);
		else if (kl[SK_URL] != 0 && kl[SK_URL_FILE] != 0)
			cfg_error(x, kl[SK_URL] > kl[SK_URL_FILE] ? kl[SK_URL] : kl[SK_URL_FILE],
			          "[%s]: set either url or url_file, not both", s->label);
		if (k->type == SW_SINK_SPLUNK_HEC && kl[SK_TOKEN_FILE] == 0)
			cfg_error(x, s->line, "[%s]: token_file is required for type splunk-hec", s->label);
		break;
	case SW_SINK_SYSLOG:
		if (k->address == NULL)
			k->address = cfg_strdup(x, "unix:/dev/log");
		if (k->sd_id == NULL)
			k->sd_id = cfg_strdup(x, SW_SYSLOG_SD_ID_DEFAULT);
		/* Alerts name mailboxes, addresses and weaknesses: they cross a
		 * network only encrypted, unless the operator says otherwise. */
		if (k->address != NULL && (strncmp(k->address, "udp://", 6) == 0 || strncmp(k->address, "tcp://", 6) == 0) &&
		    !sw_url_is_loopback(k->address) && !k->allow_cleartext)
			cfg_error(x, kl[SK_ADDRESS] ? kl[SK_ADDRESS] : s->line,
			          "[%s]: address %s sends alerts in clear text to another host: use tls://HOST:6514, "
			          "or set allow_cleartext = yes", s->label, k->address);
		if (kl[SK_CA_FILE] != 0 && (k->address == NULL || strncmp(k->address, "tls://", 6) != 0))
			cfg_error(x, kl[SK_CA_FILE], "[%s]: ca_file is used only with a tls:// address", s->label);
		else if (k->ca_file != NULL)
			ca_file_check(x, kl[SK_CA_FILE], s->label, k->ca_file);
		break;
	case SW_SINK_JOURNAL:
		break;
	}
	sink_delivery_defaults(x, s, k);
	if (k->url_file != NULL && kl[SK_URL] == 0 && (allowed & BIT(SK_URL_FILE))) {
		if (sw_secret_read(k->url_file, &k->url, NULL, why, sizeof(why)) < 0) {
			cfg_error(x, kl[SK_URL_FILE], "url_file %s: %s", k->url_file, why);
		} else if (sw_url_check(k->url, why, sizeof(why)) < 0) {
			cfg_error(x, kl[SK_URL_FILE], "url_file %s: %s", k->url_file, why);
		}
	}
	if (k->token_file != NULL && (allowed & BIT(SK_TOKEN_FILE)) &&
	    sw_secret_read(k->token_file, &k->token, NULL, why, sizeof(why)) < 0)
		cfg_error(x, kl[SK_TOKEN_FILE], "token_file %s: %s", k->token_file, why);
	if (k->hmac_key_file != NULL && (allowed & BIT(SK_HMAC_KEY_FILE)) &&
	    sw_secret_read(k->hmac_key_file, &k->hmac_key, &k->hmac_key_len, why, sizeof(why)) < 0)
		cfg_error(x, kl[SK_HMAC_KEY_FILE], "hmac_key_file %s: %s", k->hmac_key_file, why);
}

/* The config file's directory, absolute when it can be resolved. */
static char *config_dir(const char *path)
{
	char *copy = strdup(path), *dir, *real = NULL;

	if (copy == NULL)
		return NULL;
	dir = dirname(copy);
	real = realpath(dir, NULL);
	if (real == NULL)
		real = strdup(dir);
	free(copy);
	return real;
}

/* ---- tenants_dir and [tenant-defaults] ---- */

static void tenant_config_free(struct sw_tenant_config *t);

/* The line a key of a section was set on (0: not set). */
static int key_line(const struct section_rec *s, const struct key_def *keys, const char *name)
{
	for (size_t i = 0; keys[i].name != NULL; i++)
		if (strcmp(keys[i].name, name) == 0)
			return s->key_lines[i];
	return 0;
}

static int tfile_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* DIR/ *.conf, not hidden. */
static bool tfile_wanted(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".conf") == 0;
}

/* The names of the tenants_dir files, sorted: *ret_names points into
 * *ret_arena, one allocation for all of them (scandir's one a name, and
 * their frees, were a tenth of a reload that read no file).  Their
 * number, or -errno. */
static int tfile_names(const char *dir, char ***ret_names, char **ret_arena)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	char *arena = NULL, **names = NULL;
	size_t len = 0, cap = 0, n = 0;
	int r = 0;

	if (dh == NULL)
		return -errno;
	errno = 0;
	while ((e = readdir(dh)) != NULL) {
		size_t k = strlen(e->d_name) + 1;
		if (!tfile_wanted(e->d_name))
			continue;
		if (len + k > cap) {
			size_t ncap = cap ? 2 * cap : 4096;
			while (len + k > ncap)
				ncap *= 2;
			char *a = realloc(arena, ncap);
			if (a == NULL) {
				r = -ENOMEM;
				goto out;
			}
			arena = a;
			cap = ncap;
		}
		memcpy(arena + len, e->d_name, k);
		len += k;
		n++;
		errno = 0;
	}
	if (errno != 0) {
		r = -errno;
		goto out;
	}
	names = calloc(n + 1, sizeof(*names));
	if (names == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0, off = 0; i < n; i++) {
		names[i] = arena + off;
		off += strlen(names[i]) + 1;
	}
	qsort(names, n, sizeof(*names), tfile_name_cmp);
	*ret_names = names;
	*ret_arena = arena;
	arena = NULL;
	r = (int)n;
out:
	closedir(dh);
	free(arena);
	return r;
}

/* ---- the tenant file cache ---- */

/* Free an entry's contents. */
static void tfc_entry_clear(struct tfc_entry *e)
{
	for (size_t i = 0; i < e->n_ev; i++) {
		free(e->ev[i].a);
		free(e->ev[i].b);
	}
	free(e->ev);
	free(e->path);
	memset(e, 0, sizeof(*e));
}

/* See config.h. */
struct sw_tenant_file_cache *sw_tenant_file_cache_new(void)
{
	return calloc(1, sizeof(struct sw_tenant_file_cache));
}

/* See config.h. */
void sw_tenant_file_cache_free(struct sw_tenant_file_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		tfc_entry_clear(&c->v[i]);
	free(c->v);
	free(c);
}

/* See config.h. */
size_t sw_tenant_file_cache_size(const struct sw_tenant_file_cache *c)
{
	return c != NULL ? c->n : 0;
}

/* Is the file st describes the version e was read from? */
static bool tfc_same(const struct tfc_entry *e, const struct stat *st)
{
	return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
	       e->mtim.tv_sec == st->st_mtim.tv_sec && e->mtim.tv_nsec == st->st_mtim.tv_nsec &&
	       e->ctim.tv_sec == st->st_ctim.tv_sec && e->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

/* Append an event to the entry being recorded (a copy of a and b). */
static void tfc_record(struct cfg_ctx *x, enum tfc_kind kind, int line, bool warning, const char *a, const char *b)
{
	struct tfc_entry *e = x->rec;
	struct tfc_event *ev;

	if (e == NULL || e->oom)
		return;
	if (e->n_ev == e->cap_ev) {
		size_t cap = e->cap_ev ? 2 * e->cap_ev : 4;
		ev = realloc(e->ev, cap * sizeof(*ev));
		if (ev == NULL) {
			e->oom = true;
			return;
		}
		e->ev = ev;
		e->cap_ev = cap;
	}
	ev = &e->ev[e->n_ev];
	*ev = (struct tfc_event){.kind = kind, .line = line, .warning = warning};
	ev->a = a != NULL ? strdup(a) : NULL;
	ev->b = b != NULL ? strdup(b) : NULL;
	if ((a != NULL && ev->a == NULL) || (b != NULL && ev->b == NULL)) {
		free(ev->a);
		free(ev->b);
		e->oom = true;
		return;
	}
	e->n_ev++;
}

/* The syntax problems sw_ini_parse reported since the last handler call. */
static void tfc_record_problems(struct cfg_ctx *x)
{
	for (size_t i = x->diag_mark; x->diag != NULL && i < x->diag->n; i++)
		tfc_record(x, TFC_PROBLEM, x->diag->items[i].line, x->diag->items[i].warning, x->diag->items[i].text,
		           NULL);
	x->diag_mark = x->diag != NULL ? x->diag->n : 0;
}

static void cfg_section_cb(void *user, int line, const char *header);
static void cfg_key_cb(void *user, int line, const char *section, const char *name, const char *value);

/* The handlers of a tenants_dir file being read for the cache: record,
 * then handle as any file. */
static void tfc_section_cb(void *user, int line, const char *header)
{
	struct cfg_ctx *x = user;

	tfc_record_problems(x);
	tfc_record(x, TFC_SECTION, line, false, header, NULL);
	cfg_section_cb(x, line, header);
	x->diag_mark = x->diag != NULL ? x->diag->n : 0;
}

static void tfc_key_cb(void *user, int line, const char *section, const char *name, const char *value)
{
	struct cfg_ctx *x = user;

	tfc_record_problems(x);
	tfc_record(x, TFC_KEY, line, false, name, value);
	cfg_key_cb(x, line, section, name, value);
	x->diag_mark = x->diag != NULL ? x->diag->n : 0;
}

/* A cached file, handled again as sw_ini_parse would hand it over; its
 * syntax problems reported again.  sw_ini_parse's answer. */
static int tfc_replay(struct cfg_ctx *x, const struct tfc_entry *e)
{
	const char *section = NULL;

	for (size_t i = 0; i < e->n_ev; i++) {
		const struct tfc_event *ev = &e->ev[i];
		switch (ev->kind) {
		case TFC_SECTION:
			section = ev->a;
			cfg_section_cb(x, ev->line, ev->a);
			break;
		case TFC_KEY:
			cfg_key_cb(x, ev->line, section, ev->a, ev->b);
			break;
		case TFC_PROBLEM:
			sw_diag_add(x->diag, ev->warning, x->path, ev->line, "%s", ev->a);
			break;
		}
	}
	return e->parse_r;
}

/* Read one tenants_dir file (x->path) into the context, through the
 * cache: *hit when the cache holds this version of it (moved to *ret_keep),
 * else it is read, and recorded into *ret_keep when it parsed (a file
 * that cannot be read is read again next time).  sw_ini_parse's answer. */
static int tenant_file_read(struct cfg_ctx *x, const struct sw_ini_handler *handler, int dfd, const char *name,
                            struct tfc_entry *hit, struct tfc_entry *ret_keep, bool *ret_kept)
{
	static const struct sw_ini_handler rec_handler = {tfc_section_cb, tfc_key_cb};
	struct tfc_entry e = {0};
	struct stat st;
	int r;

	*ret_kept = false;
	if (x->cache == NULL) {
		x->n_parsed++;
		return sw_ini_parse(x->path, handler, x, x->diag);
	}
	/* The version is read before the file: a change after it shows
	 * as another version at the next load.  Relative to the directory:
	 * no walk of the whole path for each of 10,000 files. */
	bool known = (dfd >= 0 ? fstatat(dfd, name, &st, 0) : stat(x->path, &st)) == 0;
	if (known && hit != NULL && tfc_same(hit, &st)) {
		r = tfc_replay(x, hit);
		*ret_keep = *hit;
		memset(hit, 0, sizeof(*hit));
		*ret_kept = true;
		return r;
	}
	x->n_parsed++;
	if (!known) /* sw_ini_parse says why */
		return sw_ini_parse(x->path, handler, x, x->diag);
	e.path = strdup(x->path);
	e.dev = st.st_dev;
	e.ino = st.st_ino;
	e.size = st.st_size;
	e.mtim = st.st_mtim;
	e.ctim = st.st_ctim;
	e.oom = e.path == NULL;
	x->rec = &e;
	x->diag_mark = x->diag != NULL ? x->diag->n : 0;
	r = sw_ini_parse(x->path, &rec_handler, x, x->diag);
	if (r >= 0)
		tfc_record_problems(x);
	x->rec = NULL;
	e.parse_r = r;
	if (r >= 0 && !e.oom && x->diag != NULL) {
		*ret_keep = e;
		*ret_kept = true;
	} else {
		tfc_entry_clear(&e);
	}
	return r;
}

/* Read every tenants_dir file, in name order, into the same context: each
 * holds one [tenant NAME] (the name is the section's, not the file's).
 * With a cache, the files it holds as they are now are taken from it, the
 * others read and kept in it; the files not found leave it. */
static int tenants_dir_load(struct cfg_ctx *x, const struct sw_ini_handler *handler)
{
	const char *dir = x->cfg->daemon.tenants_dir;
	struct sw_tenant_file_cache *cache = x->cache;
	struct tfc_entry *fresh = NULL;
	char **names = NULL, *arena = NULL;
	size_t n_fresh = 0, j = 0;
	int n, line = 0, dfd = -1;

	for (size_t i = 0; i < x->n_secs && line == 0; i++)
		if (x->secs[i].kind == SEC_DAEMON)
			line = key_line(&x->secs[i], daemon_keys, "tenants_dir");
	n = tfile_names(dir, &names, &arena);
	if (n == -ENOMEM)
		x->oom = true;
	if (n < 0) {
		cfg_error(x, line, "tenants_dir %s: %s", dir, strerror(-n));
		return 0;
	}
	x->tfiles = calloc((size_t)n + 1, sizeof(*x->tfiles));
	sections_reserve(x, (size_t)n);
	if (cache != NULL) {
		fresh = calloc((size_t)n + 1, sizeof(*fresh));
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* -1: stat by path */
	}
	if (x->tfiles == NULL || (cache != NULL && fresh == NULL))
		x->oom = true;
	for (int i = 0; i < n; i++) {
		if (x->tfiles != NULL && !x->oom) {
			struct tenant_file *f = &x->tfiles[x->n_tfiles];
			if ((f->path = str_join3(dir, "/", names[i])) == NULL) {
				x->oom = true;
			} else {
				struct tfc_entry *hit = NULL;
				bool kept = false;
				/* Both in path order: the entries before this file
				 * are of files gone. */
				while (cache != NULL && j < cache->n && strcmp(cache->v[j].path, f->path) < 0)
					tfc_entry_clear(&cache->v[j++]);
				if (cache != NULL && j < cache->n && strcmp(cache->v[j].path, f->path) == 0)
					hit = &cache->v[j++];
				x->n_tfiles++;
				x->tfile = (int)(x->n_tfiles - 1);
				x->path = f->path;
				x->cur = -1;
				int r = tenant_file_read(x, handler, dfd, names[i], hit,
				                         fresh != NULL ? &fresh[n_fresh] : NULL, &kept);
				if (hit != NULL)
					tfc_entry_clear(hit);
				n_fresh += kept;
				if (r != 0)
					f->bad = true;
				if (r >= 0 && f->sections == 0)
					cfg_error(x, 1, "no [tenant NAME] section (a tenants_dir file holds one)");
				x->tfile = -1;
				x->path = x->main_path;
				x->cur = -1;
			}
		}
	}
	free(names);
	free(arena);
	if (dfd >= 0)
		close(dfd);
	if (cache != NULL) {
		for (; j < cache->n; j++)
			tfc_entry_clear(&cache->v[j]);
		free(cache->v);
		cache->v = fresh;
		cache->n = n_fresh;
		if (x->oom) {
			/* Half a walk: keep nothing of it. */
			for (size_t i = 0; i < cache->n; i++)
				tfc_entry_clear(&cache->v[i]);
			cache->n = 0;
		}
	}
	return 0;
}

/* A copy of a string list (NULL for NULL); NULL and x->oom on OOM. */
static char **strv_copy(struct cfg_ctx *x, char *const *v)
{
	size_t n = 0;
	char **c;

	if (v == NULL)
		return NULL;
	while (v[n] != NULL)
		n++;
	c = calloc(n + 1, sizeof(*c));
	for (size_t i = 0; c != NULL && i < n; i++)
		if ((c[i] = strdup(v[i])) == NULL) {
			strv_free(c);
			c = NULL;
		}
	if (c == NULL)
		x->oom = true;
	return c;
}

/* Give tenant t the [tenant-defaults] value of key k, as parsed there
 * (it parsed without a problem, and paths resolve against the main
 * config's directory either way): what cfg_set of the value as written
 * would set, without parsing and checking it again for each of 10,000
 * tenants.  A kind not copied here is parsed (cfg_set). */
static void tenant_default_set(struct cfg_ctx *x, const struct key_def *k, struct sw_tenant_config *t, int line,
                               const char *raw)
{
	char *dst = (char *)t + k->offset;
	const char *src = (const char *)&x->tdef + k->offset;

	switch (k->kind) {
	case K_STR:
	case K_PATH:
	case K_BASEURL:
	case K_MANAGEURL:
	case K_ALG:
	case K_GUID:
		free(*(char **)dst);
		*(char **)dst = *(char *const *)src != NULL ? cfg_strdup(x, *(char *const *)src) : NULL;
		return;
	case K_DURATION:
	case K_DURATION0:
	case K_COUNT:
	case K_COUNT0:
		*(int64_t *)dst = *(const int64_t *)src;
		return;
	case K_BOOL:
		*(bool *)dst = *(const bool *)src;
		return;
	case K_REMEDIATION:
		*(enum sw_remediation_mode *)dst = *(const enum sw_remediation_mode *)src;
		return;
	case K_REMEDY_RULES: {
		char **v = strv_copy(x, *(char **const *)src);
		if (v == NULL && *(char **const *)src != NULL)
			return;
		strv_free(*(char ***)dst);
		*(char ***)dst = v;
		return;
	}
	default:
		cfg_set(x, line, k, t, raw);
		return;
	}
}

/* [tenant-defaults]: each tenant lacking a key gets the default's value,
 * read as if written on its [tenant NAME] line.  The credentials go as a
 * group: a tenant with its own secret or certificate takes neither. */
static void tenant_defaults_apply(struct cfg_ctx *x)
{
	static const char *const cred[] = {"client_secret_file", "certificate_file", NULL};
	static const char *const wcred[] = {"remediation_client_id", "remediation_client_secret_file",
	                                    "remediation_certificate_file", NULL};
	/* Which keys are of a group, by index into tenant_keys (found once,
	 * not per tenant). */
	bool is_cred[MAX_KEYS] = {false}, is_wcred[MAX_KEYS] = {false}, any = false;

	for (size_t i = 0; tenant_keys[i].name != NULL; i++) {
		for (size_t k = 0; cred[k] != NULL; k++)
			is_cred[i] = is_cred[i] || strcmp(cred[k], tenant_keys[i].name) == 0;
		for (size_t k = 0; wcred[k] != NULL; k++)
			is_wcred[i] = is_wcred[i] || strcmp(wcred[k], tenant_keys[i].name) == 0;
		any = any || x->tdef_raw[i] != NULL;
	}
	for (size_t j = 0; j < x->n_secs; j++) {
		struct section_rec *s = &x->secs[j];
		bool own_cred = false, own_wcred = false;

		if (s->kind != SEC_TENANT)
			continue;
		if (!any) {
			tenant_default_strings(x, &x->cfg->tenants[s->index]);
			continue;
		}
		for (size_t i = 0; tenant_keys[i].name != NULL; i++) {
			own_cred = own_cred || (is_cred[i] && s->key_lines[i] != 0);
			own_wcred = own_wcred || (is_wcred[i] && s->key_lines[i] != 0);
		}
		x->tfile = s->file;
		x->path = s->file >= 0 ? x->tfiles[s->file].path : x->main_path;
		for (size_t i = 0; tenant_keys[i].name != NULL; i++) {
			if (x->tdef_raw[i] == NULL || s->key_lines[i] != 0)
				continue;
			if ((is_cred[i] && own_cred) || (is_wcred[i] && own_wcred))
				continue;
			s->key_lines[i] = s->line;
			tenant_default_set(x, &tenant_keys[i], &x->cfg->tenants[s->index], s->line, x->tdef_raw[i]);
		}
		tenant_default_strings(x, &x->cfg->tenants[s->index]);
	}
	x->tfile = -1;
	x->path = x->main_path;
}

/* The first problem diag holds for file (or a pointer to a fallback). */
static void broken_note(struct sw_tenant_file_error *b, const struct sw_diag *diag, size_t from, const char *file)
{
	for (size_t i = from; diag != NULL && i < diag->n; i++)
		if (!diag->items[i].warning && strcmp(diag->items[i].source, file) == 0) {
			b->line = diag->items[i].line;
			snprintf(b->text, sizeof(b->text), "%s", diag->items[i].text);
			return;
		}
	b->line = 0;
	snprintf(b->text, sizeof(b->text), "does not load (smtpwatchd --check-config)");
}

/* SW_CONFIG_KEEP_GOING: leave out the tenants of bad files, list the files. */
static void tenants_keep_going(struct cfg_ctx *x, size_t diag_from)
{
	struct sw_config *c = x->cfg;
	size_t kept = 0;

	c->broken = calloc(x->n_tfiles + 1, sizeof(*c->broken));
	if (c->broken == NULL) {
		x->oom = true;
		return;
	}
	c->broken_cap = x->n_tfiles + 1;
	for (size_t f = 0; f < x->n_tfiles; f++) {
		struct sw_tenant_file_error *b;
		if (!x->tfiles[f].bad)
			continue;
		b = &c->broken[c->n_broken++];
		b->file = cfg_strdup(x, x->tfiles[f].path);
		b->name = x->tfiles[f].name ? cfg_strdup(x, x->tfiles[f].name) : NULL;
		broken_note(b, x->diag, diag_from, x->tfiles[f].path);
	}
	/* The tenant sections' indexes are in file order: mark the bad ones
	 * in one pass over the sections, then compact in place. */
	bool *bad = calloc(c->n_tenants + 1, sizeof(*bad));
	if (bad == NULL) {
		x->oom = true;
		return;
	}
	for (size_t j = 0; j < x->n_secs; j++)
		if (x->secs[j].kind == SEC_TENANT && x->secs[j].index < c->n_tenants)
			bad[x->secs[j].index] = x->secs[j].file >= 0 && x->tfiles[x->secs[j].file].bad;
	for (size_t i = 0; i < c->n_tenants; i++) {
		if (bad[i])
			tenant_config_free(&c->tenants[i]);
		else
			c->tenants[kept++] = c->tenants[i];
	}
	c->n_tenants = kept;
	free(bad);
}

/* See config.h. */
bool sw_tenant_config_equal(const struct sw_tenant_config *a, const struct sw_tenant_config *b)
{
#define SAME_STR(p, q) ((p) == NULL ? (q) == NULL : (q) != NULL && strcmp((p), (q)) == 0)
	if (!SAME_STR(a->name, b->name) || !SAME_STR(a->file, b->file) || !SAME_STR(a->client_secret, b->client_secret) ||
	    !SAME_STR(a->remediation_client_secret, b->remediation_client_secret))
		return false;
	for (size_t i = 0; tenant_keys[i].name != NULL; i++) {
		const struct key_def *k = &tenant_keys[i];
		const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
		switch (k->kind) {
		case K_STR:
		case K_STR_EMPTY:
		case K_PATH:
		case K_BASEURL:
		case K_URL:
		case K_GUID:
		case K_ALG:
		case K_MANAGEURL:
			if (!SAME_STR(*(char *const *)pa, *(char *const *)pb))
				return false;
			break;
		case K_DURATION:
		case K_DURATION0:
		case K_COUNT:
		case K_COUNT0:
			if (*(const int64_t *)pa != *(const int64_t *)pb)
				return false;
			break;
		case K_BOOL:
			if (*(const bool *)pa != *(const bool *)pb)
				return false;
			break;
		case K_REMEDIATION:
			if (*(const enum sw_remediation_mode *)pa != *(const enum sw_remediation_mode *)pb)
				return false;
			break;
		case K_REMEDY_RULES: {
			char *const *va = *(char **const *)pa, *const *vb = *(char **const *)pb;
			for (; va != NULL && vb != NULL && *va != NULL && *vb != NULL; va++, vb++)
				if (strcmp(*va, *vb) != 0)
					return false;
			if ((va == NULL) != (vb == NULL) || (va != NULL && (*va == NULL) != (*vb == NULL)))
				return false;
			break;
		}
		default:
			return false; /* a kind not compared here: say changed (the tenant restarts) */
		}
	}
	return true;
#undef SAME_STR
}

/* Put tenant i in c's name index (open addressing, linear probing). */
static void tenant_slot_put(struct sw_config *c, size_t i)
{
	size_t k = label_hash(c->tenants[i].name) & (c->n_tenant_slots - 1);

	while (c->tenant_slots[k] != 0)
		k = (k + 1) & (c->n_tenant_slots - 1);
	c->tenant_slots[k] = i + 1;
}

/* (Re)build c's index of tenants by name, at most half full.  Out of
 * memory it is dropped, and sw_config_tenant() searches in order. */
static void tenant_index_build(struct sw_config *c)
{
	size_t n = 64;

	while (n < 2 * (c->n_tenants + 1))
		n *= 2;
	free(c->tenant_slots);
	c->n_tenant_slots = 0;
	c->tenant_slots = calloc(n, sizeof(*c->tenant_slots));
	if (c->tenant_slots == NULL)
		return;
	c->n_tenant_slots = n;
	for (size_t i = 0; i < c->n_tenants; i++)
		if (c->tenants[i].name != NULL)
			tenant_slot_put(c, i);
}

/* See config.h. */
int sw_config_adopt_tenant(struct sw_config *c, struct sw_tenant_config *from)
{
	struct sw_tenant_config *t = realloc(c->tenants, (c->n_tenants + 1) * sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	c->tenants = t;
	c->tenants[c->n_tenants++] = *from;
	memset(from, 0, sizeof(*from));
	if (c->tenant_slots != NULL && 2 * (c->n_tenants + 1) <= c->n_tenant_slots) {
		if (c->tenants[c->n_tenants - 1].name != NULL)
			tenant_slot_put(c, c->n_tenants - 1);
	} else if (c->tenant_slots != NULL) {
		tenant_index_build(c);
	}
	return 0;
}

/* See config.h. */
int sw_config_tenant_break(struct sw_config *c, size_t i, const char *file, int line, const char *text)
{
	struct sw_tenant_file_error *b;

	if (i >= c->n_tenants || c->tenants[i].name == NULL)
		return -EINVAL;
	if (c->n_broken == c->broken_cap) {
		size_t cap = c->broken_cap ? 2 * c->broken_cap : 8;
		b = realloc(c->broken, cap * sizeof(*b));
		if (b == NULL)
			return -ENOMEM;
		c->broken = b;
		c->broken_cap = cap;
	}
	b = &c->broken[c->n_broken];
	memset(b, 0, sizeof(*b));
	b->file = strdup(file);
	if (b->file == NULL)
		return -ENOMEM;
	b->name = c->tenants[i].name;
	c->tenants[i].name = NULL;
	b->line = line;
	b->exceptions = true;
	snprintf(b->text, sizeof(b->text), "%s", text);
	c->n_broken++;
	tenant_config_free(&c->tenants[i]);
	return 0;
}

/* See config.h. */
void sw_config_tenants_compact(struct sw_config *c)
{
	size_t kept = 0;

	for (size_t i = 0; i < c->n_tenants; i++)
		if (c->tenants[i].name != NULL)
			c->tenants[kept++] = c->tenants[i];
	c->n_tenants = kept;
	if (c->tenant_slots != NULL)
		tenant_index_build(c);
}

/* Parse and validate smtpwatch.conf (see config.h). */
int sw_config_load3(const char *path, unsigned flags, struct sw_tenant_file_cache *cache, struct sw_config **ret,
                    struct sw_diag *diag)
{
	static const struct sw_ini_handler handler = { cfg_section_cb, cfg_key_cb };
	struct cfg_ctx x = { .diag = diag, .path = path, .main_path = path, .cur = -1, .tfile = -1, .cache = cache };
	size_t diag_from = diag ? diag->n : 0;
	int r;

	x.cfg = calloc(1, sizeof(*x.cfg));
	if (x.cfg == NULL)
		return -ENOMEM;
	x.cfg->path = cfg_strdup(&x, path);
	x.cfg->daemon.state_dir = cfg_strdup(&x, "/var/lib/smtpwatch");
	x.cfg->daemon.socket = cfg_strdup(&x, "/run/smtpwatch/control.sock");
	x.cfg->daemon.socket_group = cfg_strdup(&x, "smtpwatch");
	x.cfg->daemon.retention = 400 * 86400;
	x.cfg->daemon.dead_after = 3 * 86400;
	x.cfg->daemon.max_silence = 30 * 86400;
	x.cfg->rules = (struct sw_rules_config){
		.spray_failures = 20,
		.spray_users = 5,
		.spray_window = 15 * 60,
		.bruteforce_failures = 10,
		.bruteforce_window = 15 * 60,
		.unused_after = 30 * 86400,
		.expiring_within = 14 * 86400,
		.max_exception_lifetime = 90 * 86400,
		.stale_after = 3 * 3600,
	};
	tenant_defaults(&x, &x.tdef);
	x.dir = config_dir(path);
	if (x.dir == NULL || x.oom) {
		r = -ENOMEM;
		goto out;
	}
	r = sw_ini_parse(path, &handler, &x, diag);
	if (r < 0)
		goto out;
	if (r > 0)
		x.failed = x.main_failed = true;
	if (x.cfg->daemon.tenants_dir != NULL && !x.oom)
		tenants_dir_load(&x, &handler);
	tenant_defaults_apply(&x);
	for (size_t i = 0; i < x.n_secs; i++) {
		struct section_rec *s = &x.secs[i];
		x.tfile = s->file;
		x.path = s->file >= 0 ? x.tfiles[s->file].path : path;
		if (s->kind == SEC_DAEMON)
			daemon_validate(&x, s, &x.cfg->daemon);
		else if (s->kind == SEC_TENANT)
			tenant_validate(&x, s, &x.cfg->tenants[s->index]);
		else if (s->kind == SEC_SINK)
			sink_validate(&x, s, &x.cfg->sinks[s->index]);
	}
	x.tfile = -1;
	x.path = path;
	sw_diag_sort(diag, diag_from);
	if ((flags & SW_CONFIG_KEEP_GOING) && !x.main_failed && !x.oom) {
		tenants_keep_going(&x, diag_from);
		x.failed = false;
	}
	if (x.oom) {
		r = -ENOMEM;
		goto out;
	}
	if (x.failed) {
		r = -EINVAL;
		goto out;
	}
	tenant_index_build(x.cfg);
	x.cfg->n_tenant_files = x.n_tfiles;
	x.cfg->n_tenant_files_parsed = x.n_parsed;
	*ret = x.cfg;
	x.cfg = NULL;
	r = 0;
out:
	sw_config_free(x.cfg);
	for (size_t i = 0; i < x.n_secs; i++)
		free(x.secs[i].label);
	free(x.secs);
	free(x.sec_slots);
	free(x.dir);
	for (size_t i = 0; i < x.n_tfiles; i++) {
		free(x.tfiles[i].path);
		free(x.tfiles[i].name);
	}
	free(x.tfiles);
	tenant_config_free(&x.tdef);
	for (size_t i = 0; i < MAX_KEYS; i++)
		free(x.tdef_raw[i]);
	free(x.secret_path);
	sw_free_secret(x.secret);
	return r;
}

/* See config.h. */
int sw_config_load2(const char *path, unsigned flags, struct sw_config **ret, struct sw_diag *diag)
{
	return sw_config_load3(path, flags, NULL, ret, diag);
}

/* See config.h. */
int sw_config_load(const char *path, struct sw_config **ret, struct sw_diag *diag)
{
	return sw_config_load3(path, 0, NULL, ret, diag);
}

/* Free one tenant's config, overwriting its secrets. */
static void tenant_config_free(struct sw_tenant_config *t)
{
	free(t->name);
	free(t->file);
	free(t->tenant_id);
	free(t->client_id);
	free(t->client_secret_file);
	sw_free_secret(t->client_secret);
	free(t->certificate_file);
	free(t->assertion_alg);
	free(t->login_url);
	free(t->graph_url);
	free(t->exchange_url);
	free(t->manage_url);
	free(t->report_spool);
	free(t->exceptions);
	strv_free(t->remediate_rules);
	free(t->remediation_client_id);
	free(t->remediation_client_secret_file);
	sw_free_secret(t->remediation_client_secret);
	free(t->remediation_certificate_file);
	memset(t, 0, sizeof(*t));
}

/* Free a config, overwriting its secrets. */
void sw_config_free(struct sw_config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->daemon.state_dir);
	free(c->daemon.socket);
	free(c->daemon.socket_group);
	free(c->daemon.operator_group);
	free(c->daemon.proxy);
	free(c->daemon.metrics_listen);
	free(c->daemon.tenants_dir);
	for (size_t i = 0; i < c->n_tenants; i++)
		tenant_config_free(&c->tenants[i]);
	free(c->tenants);
	for (size_t i = 0; i < c->n_broken; i++) {
		free(c->broken[i].file);
		free(c->broken[i].name);
	}
	free(c->broken);
	for (size_t i = 0; i < c->n_sinks; i++) {
		struct sw_sink_config *k = &c->sinks[i];
		free(k->name);
		sw_free_secret(k->url);
		free(k->url_file);
		sw_free_secret(k->token);
		free(k->token_file);
		if (k->hmac_key != NULL)
			explicit_bzero(k->hmac_key, k->hmac_key_len); /* binary: may hold a NUL */
		sw_free_secret(k->hmac_key);
		free(k->hmac_key_file);
		strv_free(k->rules);
		free(k->address);
		free(k->ca_file);
		free(k->sd_id);
		free(k->index);
		free(k->source);
		free(k->sourcetype);
		free(k->channel);
	}
	free(c->sinks);
	free(c->tenant_slots);
	free(c);
}

/* See config.h. */
const struct sw_tenant_config *sw_config_tenant(const struct sw_config *c, const char *name)
{
	if (c == NULL || name == NULL)
		return NULL;
	if (c->tenant_slots == NULL) {
		for (size_t i = 0; i < c->n_tenants; i++)
			if (c->tenants[i].name != NULL && strcmp(c->tenants[i].name, name) == 0)
				return &c->tenants[i];
		return NULL;
	}
	for (size_t k = label_hash(name) & (c->n_tenant_slots - 1); c->tenant_slots[k] != 0;
	     k = (k + 1) & (c->n_tenant_slots - 1)) {
		const struct sw_tenant_config *t = &c->tenants[c->tenant_slots[k] - 1];
		if (t->name != NULL && strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

/* Does this sink take alerts of this rule and severity? */
bool sw_sink_wants(const struct sw_sink_config *s, const char *rule, enum sw_severity sev)
{
	if (sev < s->min_severity)
		return false;
	if (s->rules == NULL)
		return true;
	for (char **r = s->rules; *r; r++)
		if (strcmp(*r, "*") == 0 || strcmp(*r, rule) == 0)
			return true;
	return false;
}

/* One key of a section as "name = value" (dump_section).  A string the
 * file left unset is a comment: "name =" would not load again for most
 * keys.  An inline url may be a webhook's secret: only that it is set. */
static void dump_key(FILE *f, const struct key_def *k, const void *obj, bool url_from_file)
{
	const char *p = (const char *)obj + k->offset;
	const char *str = NULL;
	char buf[32];

	/* Only the string kinds hold a char * at the offset: reading one from
	 * an int or bool field is a misaligned load (UBSan). */
	switch (k->kind) {
	case K_URL:
	case K_STR_EMPTY:
	case K_PROXY:
	case K_STR:
	case K_PATH:
	case K_BASEURL:
	case K_MANAGEURL:
	case K_ALG:
	case K_ADDRESS:
	case K_SD_ID:
	case K_LISTEN:
	case K_GUID:
		str = *(char *const *)p;
		break;
	default:
		break;
	}
	switch (k->kind) {
	case K_DURATION:
	case K_DURATION0:
		sw_duration_format(*(const int64_t *)p, buf, sizeof(buf));
		fprintf(f, "%s = %s\n", k->name, buf);
		return;
	case K_COUNT:
	case K_COUNT0:
		fprintf(f, "%s = %lld\n", k->name, (long long)*(const int64_t *)p);
		return;
	case K_BOOL:
		fprintf(f, "%s = %s\n", k->name, *(const bool *)p ? "yes" : "no");
		return;
	case K_SINKTYPE:
		fprintf(f, "%s = %s\n", k->name, sw_sink_type_name(*(const enum sw_sink_type *)p));
		return;
	case K_SEVERITY:
		fprintf(f, "%s = %s\n", k->name, sw_severity_name(*(const enum sw_severity *)p));
		return;
	case K_SYSLOG_FORMAT:
		fprintf(f, "%s = %s\n", k->name, sw_syslog_format_name(*(const enum sw_syslog_format *)p));
		return;
	case K_FACILITY:
		fprintf(f, "%s = %s\n", k->name, sw_name_of(facilities, *(const int *)p, "unknown"));
		return;
	case K_REMEDIATION:
		fprintf(f, "%s = %s\n", k->name, sw_remediation_mode_name(*(const enum sw_remediation_mode *)p));
		return;
	case K_REMEDY_RULES:
	case K_RULES: {
		char *const *r = *(char *const *const *)p;
		fprintf(f, "%s = ", k->name);
		if (r == NULL)
			fputs("*", f);
		for (size_t i = 0; r != NULL && r[i] != NULL; i++)
			fprintf(f, "%s%s", i ? ", " : "", r[i]);
		fputc('\n', f);
		return;
	}
	case K_URL:
		if (url_from_file)
			return; /* url_file says where it came from */
		if (str != NULL)
			fprintf(f, "# %s = (set in the file; not shown, it may hold a secret)\n", k->name);
		else
			fprintf(f, "# %s = (not set)\n", k->name);
		return;
	case K_STR_EMPTY:
	case K_PROXY:
		fprintf(f, "%s =%s%s\n", k->name, str != NULL && *str != '\0' ? " " : "", str != NULL ? str : "");
		return;
	default:
		if (str != NULL)
			fprintf(f, "%s = %s\n", k->name, str);
		else
			fprintf(f, "# %s = (not set)\n", k->name);
		return;
	}
}

/* The keys of one section; mask selects by index (a sink's type). */
static void dump_section(FILE *f, const struct key_def *keys, const void *obj, unsigned mask, bool url_from_file)
{
	for (size_t i = 0; keys[i].name != NULL; i++)
		if (mask & BIT(i))
			dump_key(f, &keys[i], obj, url_from_file);
}

/* See config.h. */
void sw_config_dump(const struct sw_config *c, FILE *f)
{
	fprintf(f, "# the effective configuration of %s, every default filled in;\n"
	           "# secrets are shown as the files they are read from, never their value\n",
	        c->path != NULL ? c->path : "?");
	fprintf(f, "\n[daemon]\n");
	dump_section(f, daemon_keys, &c->daemon, ~0u, false);
	fprintf(f, "\n[rules]\n");
	dump_section(f, rules_keys, &c->rules, ~0u, false);
	for (size_t i = 0; i < c->n_tenants; i++) {
		fprintf(f, "\n[tenant %s]\n", c->tenants[i].name);
		if (c->tenants[i].file != NULL)
			fprintf(f, "# from %s\n", c->tenants[i].file);
		dump_section(f, tenant_keys, &c->tenants[i], ~0u, false);
	}
	for (size_t i = 0; i < c->n_sinks; i++) {
		const struct sw_sink_config *k = &c->sinks[i];
		unsigned mask = k->type < sizeof(sink_type_keys) / sizeof(sink_type_keys[0]) ? sink_type_keys[k->type] : 0;

		fprintf(f, "\n[sink %s]\n", k->name);
		dump_section(f, sink_keys, k, mask, k->url_file != NULL);
	}
}
