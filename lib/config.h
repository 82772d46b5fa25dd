/* config.h: smtpwatch.conf (INI, see SPEC.md) -> an immutable struct. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

enum sw_severity {
	SW_SEV_INFO,
	SW_SEV_LOW,
	SW_SEV_MEDIUM,
	SW_SEV_HIGH,
	SW_SEV_CRITICAL,
};
const char *sw_severity_name(enum sw_severity s);      /* "info" .. "critical" */
int sw_severity_parse(const char *s, enum sw_severity *ret);

enum sw_sink_type {
	SW_SINK_WEBHOOK,
	SW_SINK_TEAMS,
	SW_SINK_SPLUNK_HEC,
	SW_SINK_SYSLOG,
	SW_SINK_JOURNAL,
};
const char *sw_sink_type_name(enum sw_sink_type t); /* "webhook", "teams", "splunk-hec", ... */
int sw_sink_type_parse(const char *s, enum sw_sink_type *ret); /* 0 or -EINVAL */

/* [sink] format of a syslog sink: auto writes the local syslog(3) form
 * (rfc3164 without HOSTNAME) on a unix: address, RFC 5424 on the others. */
enum sw_syslog_format {
	SW_SYSLOG_AUTO,
	SW_SYSLOG_RFC5424,
	SW_SYSLOG_RFC3164,
};
const char *sw_syslog_format_name(enum sw_syslog_format f); /* "auto", "rfc5424", "rfc3164" */
int sw_syslog_format_parse(const char *s, enum sw_syslog_format *ret); /* 0 or -EINVAL */
/* The SD-ID a syslog sink names its structured data with unless sd_id
 * says otherwise.  smtpwatch has no private enterprise number of its own:
 * 0 is the registry's "Reserved" entry, which no enterprise holds, so it
 * collides with nobody's SD-IDs and is not the documentation number
 * 32473 (RFC 5612); smtpwatch.conf(5) asks for the operator's own PEN. */
#define SW_SYSLOG_SD_ID_DEFAULT "smtpwatch@0"

/* The rule names of SPEC.md's rule table, in its order, NULL-terminated. */
#define SW_N_RULES 18
extern const char *const sw_rules_all[SW_N_RULES + 1];
/* The daemon's own health rule, an extension of SPEC's table (severity
 * high, subject = the sink's name): alerts to a sink went dead.  It is
 * raised on every other sink, never on the one that failed. */
#define SW_RULE_DELIVERY_DEAD "delivery-dead"
/* The daemon's own audit rule (severity low, medium when a silence covers
 * every rule or every subject; subject = "RULE:SUBJECT" of the silence):
 * a silence was set, replaced or lifted.  It can never be silenced. */
#define SW_RULE_SILENCE_CHANGED "silence-changed"
/* One of sw_rules_all, SW_RULE_DELIVERY_DEAD or SW_RULE_SILENCE_CHANGED
 * (sink filters may name them). */
bool sw_rule_known(const char *name);

/* Syslog facility name ("authpriv", "local0", ...) to its number (LOG_x >> 3). */
/* yes/no, true/false, on/off, 1/0 (any case); -EINVAL otherwise. */
int sw_bool_parse(const char *s, bool *ret);
int sw_facility_parse(const char *s, int *ret);

struct sw_daemon_config {
	char *state_dir;    /* default /var/lib/smtpwatch */
	char *socket;       /* default /run/smtpwatch/control.sock */
	char *socket_group; /* default "smtpwatch"; NULL or "" = no chgrp ("socket_group =" gives "") */
	int64_t retention;  /* seconds, default 400d */
	int64_t dead_after; /* seconds, default 3d */
	char *operator_group; /* members may change state (ack, silence, import, poll, reload); NULL = root only */
	int64_t max_silence;  /* seconds, default 30d */
	bool allow_root;      /* run as uid 0 only when set */
	char *proxy;          /* http://host:port for every non-loopback request; NULL = none (environment ignored) */
	char *metrics_listen; /* GET /metrics: HOST:PORT, [V6]:PORT or unix:/PATH (sw_listen_parse); NULL = off */
	bool metrics_allow_remote; /* metrics_listen may be other than loopback or a unix socket */
	char *tenants_dir;    /* one [tenant NAME] per file DIR/NAME.conf (sw_config_load2); NULL = none */
};

/* An address to listen on, as metrics_listen takes it: IPV4:PORT,
 * [IPV6]:PORT (numeric: a name would be looked up at every load) or
 * unix:/PATH, the syslog address's spelling of a socket path. */
enum sw_listen_family { SW_LISTEN_INET, SW_LISTEN_INET6, SW_LISTEN_UNIX };
struct sw_listen {
	enum sw_listen_family family;
	char host[46];   /* inet, inet6: the numeric address, without brackets */
	unsigned port;   /* inet, inet6: 1..65535 */
	char path[108];  /* unix: the socket's path (sun_path) */
	bool loopback;   /* 127.0.0.0/8, ::1, or a unix socket (file permissions) */
};
/* 0 and *ret, or -EINVAL with why. */
int sw_listen_parse(const char *s, struct sw_listen *ret, char *why, size_t n);

/* remediation = off | manual | auto (SPEC "Remediation (opt-in)"). */
enum sw_remediation_mode {
	SW_REMEDIATION_OFF,
	SW_REMEDIATION_MANUAL,
	SW_REMEDIATION_AUTO,
};
const char *sw_remediation_mode_name(enum sw_remediation_mode m); /* "off", "manual", "auto" */
int sw_remediation_mode_parse(const char *s, enum sw_remediation_mode *ret); /* 0 or -EINVAL */
/* The rules smtpwatchctl remediate can act on: a mailbox's own switch
 * (Set-CASMailbox) for the mailbox rules, the tenant switch
 * (Set-TransportConfig, only with --tenant-switch, never auto) for
 * tenant-smtp-auth-enabled.  NULL-terminated. */
extern const char *const sw_remediable_rules[];
/* Is rule one of sw_remediable_rules?  tenant_switch: the tenant rule too. */
bool sw_rule_remediable(const char *rule, bool tenant_switch);

struct sw_tenant_config {
	char *name; /* from [tenant NAME] */
	int line;   /* line of the section header */
	char *file; /* the tenants_dir file it came from; NULL: the main config */
	char *tenant_id;
	char *client_id;
	char *client_secret_file;
	char *client_secret; /* loaded from client_secret_file; never log */
	char *certificate_file; /* checked (exists, mode 0600) but not loaded yet */
	char *assertion_alg; /* "PS256" (default) or "RS256" */
	char *login_url;     /* default https://login.microsoftonline.com */
	char *graph_url;     /* default https://graph.microsoft.com */
	char *exchange_url;  /* default https://outlook.office365.com */
	int64_t signins_interval; /* default 5m */
	int64_t signins_lookback; /* default 2h */
	int64_t initial_backfill; /* default 7d */
	int64_t config_interval;  /* default 1h */
	char *report_spool;       /* may be NULL */
	char *exceptions;         /* register path, may be NULL (empty register) */
	/* The audit source (SPEC "Change attribution"): off by default, it
	 * needs ActivityFeed.Read of "Office 365 Management APIs". */
	bool audit;
	char *manage_url;         /* default https://manage.office.com; one of SW_MANAGE_HOSTS or loopback */
	int64_t audit_interval;   /* default 15m */
	/* The email app usage report (Reports.Read.All, no P1 needed) and
	 * message trace (ExchangeMessageTrace.Read.All), issue 20. */
	bool usage;               /* default on */
	int64_t usage_interval;   /* default 1d */
	bool trace;               /* default off */
	int64_t trace_interval;   /* default 1h */
	/* Remediation (issue 18): off by default; remediate_rules are the
	 * rules auto mode acts on (mailbox rules of sw_remediable_rules only),
	 * at most remediation_max_per_hour writes an hour.  Writes use the
	 * remediation_* credentials when set (a separate app registration with
	 * the Exchange Administrator role), else the read credentials. */
	enum sw_remediation_mode remediation;
	char **remediate_rules;           /* NULL-terminated, never NULL after load */
	int64_t remediation_max_per_hour; /* default 10 */
	char *remediation_client_id;
	char *remediation_client_secret_file;
	char *remediation_client_secret;  /* loaded from remediation_client_secret_file; never log */
	char *remediation_certificate_file; /* checked like certificate_file */
};

/* The Management Activity API's documented base URLs: commercial, GCC,
 * GCC High, DoD (NULL-terminated). */
extern const char *const sw_manage_urls[];

struct sw_rules_config {
	int64_t spray_failures;         /* 20 */
	int64_t spray_users;            /* 5 */
	int64_t spray_window;           /* 15m */
	int64_t bruteforce_failures;    /* 10 */
	int64_t bruteforce_window;      /* 15m */
	int64_t unused_after;           /* 30d */
	int64_t expiring_within;        /* 14d */
	int64_t max_exception_lifetime; /* 90d */
	int64_t stale_after;            /* 3h */
};

struct sw_sink_config {
	char *name; /* from [sink NAME] */
	int line;
	enum sw_sink_type type;
	char *url;      /* from url or url_file; may be secret: never log */
	char *url_file;
	char *token;    /* splunk-hec, from token_file */
	char *token_file;
	char *hmac_key; /* webhook, from hmac_key_file */
	size_t hmac_key_len;
	char *hmac_key_file;
	enum sw_severity min_severity; /* default info */
	char **rules;   /* NULL-terminated; NULL means every rule ("*") */
	char *address;  /* syslog: unix:/dev/log (default), udp://h:p, tcp://h:p, tls://h:p */
	int facility;   /* syslog facility number (LOG_AUTHPRIV>>3 default) */
	bool allow_cleartext; /* syslog: udp/tcp to a non-loopback host */
	char *ca_file;  /* syslog tls://: CA certificates (PEM) instead of the system's */
	enum sw_syslog_format format; /* syslog: auto (default), rfc5424, rfc3164 */
	char *sd_id;    /* syslog: the RFC 5424 SD-ID, NAME@PEN (SW_SYSLOG_SD_ID_DEFAULT) */
	/* Delivery (SPEC "Sinks at scale"): requests at once (webhook, hec 4;
	 * teams 1; syslog and journal are serial), most requests a minute (0:
	 * unlimited; teams 20), digests past digest_after notifications of one
	 * rule for one tenant within digest_window (0: never). */
	int64_t max_in_flight;
	int64_t rate;
	int64_t digest_after;  /* 10 */
	int64_t digest_window; /* 5m */
	/* splunk-hec: the event's index (NULL: the token's default), source,
	 * sourcetype; channel (a GUID) turns indexer acknowledgement on, and an
	 * event unacknowledged after ack_timeout is sent again. */
	char *index;
	char *source;     /* "smtpwatch" */
	char *sourcetype; /* "smtpwatch:alert" */
	char *channel;
	int64_t ack_timeout; /* 2m */
};

/* A tenants_dir file that did not load (sw_config_load2 with
 * SW_CONFIG_KEEP_GOING): its first problem; name is the tenant it names
 * (NULL when the file got that far).  With exceptions set, file is the
 * tenant's exception register instead (sw_config_tenant_break). */
struct sw_tenant_file_error {
	char *file;
	char *name;
	int line;
	bool exceptions;
	char text[sizeof(((struct sw_error *)0)->text)];
};

struct sw_config {
	char *path;
	struct sw_tenant_file_error *broken; /* SW_CONFIG_KEEP_GOING, sw_config_tenant_break */
	size_t n_broken, broken_cap;
	struct sw_daemon_config daemon;
	struct sw_rules_config rules;
	struct sw_tenant_config *tenants;
	size_t n_tenants;
	struct sw_sink_config *sinks;
	size_t n_sinks;
	/* Hash index of tenants[] by name, for sw_config_tenant(): slot value
	 * = index + 1, 0 = empty; n_tenant_slots a power of two.  Kept by the
	 * load and by the functions below that change tenants[]; NULL (a
	 * config built by hand, or out of memory) is searched in order. */
	size_t *tenant_slots;
	size_t n_tenant_slots;
	/* tenants_dir: the files the load found, and how many of them it
	 * read and parsed (the others came from a sw_tenant_file_cache). */
	size_t n_tenant_files;
	size_t n_tenant_files_parsed;
};

/* Parse and validate a config file, loading secret files (which must not be
 * readable by group or others).  Every problem goes to diag as FILE:LINE.
 * Returns 0 and *ret on success (warnings allowed), -EINVAL if diag holds an
 * error, -ENOMEM, or -errno if the file cannot be read (also in diag). */
int sw_config_load(const char *path, struct sw_config **ret, struct sw_diag *diag);
/* sw_config_load with flags.  SW_CONFIG_KEEP_GOING: a tenants_dir file with
 * a problem (parse, validation, a duplicate name) does not fail the load:
 * its tenant is left out and the file is listed in (*ret)->broken, its
 * problems still in diag (a reload keeps that tenant's running config).
 * Problems of the main config still fail it. */
#define SW_CONFIG_KEEP_GOING 1u
int sw_config_load2(const char *path, unsigned flags, struct sw_config **ret, struct sw_diag *diag);

/* What a load read of each tenants_dir file, kept for the next load (the
 * daemon holds one from its start to its exit): a file whose path, device,
 * inode, size, mtime and ctime are the same as when it was read is not
 * read again, its own [tenant NAME] section (every key with its line, and
 * the syntax problems of the file) is taken as it was, before
 * [tenant-defaults] is applied, and it is checked again like a file just
 * read: the same problems, a broken file stays broken.  Secret files are
 * read at every load (they rotate), and so is everything else of the main
 * config.  Files gone from the directory leave the cache at the load that
 * no longer finds them.  An edit that keeps the inode, the size and the
 * mtime changes the ctime, which no program sets back (short of changing
 * the clock); only two writes of the same size within one tick of the
 * file system's clock (a few ms) around the read of a load can go unseen,
 * until the file changes again. */
struct sw_tenant_file_cache;
struct sw_tenant_file_cache *sw_tenant_file_cache_new(void); /* NULL on OOM */
void sw_tenant_file_cache_free(struct sw_tenant_file_cache *c);
/* The files it holds. */
size_t sw_tenant_file_cache_size(const struct sw_tenant_file_cache *c);
/* sw_config_load2 through cache (NULL: every file read, as sw_config_load2;
 * smtpwatchd --check-config reads everything).  A load that fails leaves
 * the cache holding what it read. */
int sw_config_load3(const char *path, unsigned flags, struct sw_tenant_file_cache *cache, struct sw_config **ret,
                    struct sw_diag *diag);
/* Do two tenant configs say the same (every key, the secrets' contents,
 * the file)?  A reload keeps the runtime of a tenant whose config is equal. */
bool sw_tenant_config_equal(const struct sw_tenant_config *a, const struct sw_tenant_config *b);
/* Move tenant *from (of another config) into c as its last tenant (from is
 * zeroed).  0 or -ENOMEM. */
int sw_config_adopt_tenant(struct sw_config *c, struct sw_tenant_config *from);
/* Tenant i's exception register does not load (the caller loads
 * registers): leave the tenant out, as a broken tenants_dir file's, and
 * list it in c->broken with the register's file and first problem (a
 * reload keeps that tenant's running config and register).  The tenant
 * stays in c->tenants with its name NULL until sw_config_tenants_compact.
 * 0 or -ENOMEM. */
int sw_config_tenant_break(struct sw_config *c, size_t i, const char *file, int line, const char *text);
/* Drop the tenants sw_config_tenant_break left out, keeping the order of
 * the others (one pass). */
void sw_config_tenants_compact(struct sw_config *c);
void sw_config_free(struct sw_config *c);

/* Write c as smtpwatch.conf (INI, one section per [daemon], [rules],
 * tenant, sink; every default filled in) for smtpwatchd -T.  Secrets
 * appear as their *_file paths only, and an inline url not at all. */
void sw_config_dump(const struct sw_config *c, FILE *f);

/* Find a tenant by name (case-sensitive): O(1) through the index of a
 * loaded config (every alert shown or sent names its tenant's id, and a
 * config may hold 10,000 tenants). */
const struct sw_tenant_config *sw_config_tenant(const struct sw_config *c, const char *name);
/* Does this sink take alerts of this rule and severity? */
bool sw_sink_wants(const struct sw_sink_config *s, const char *rule, enum sw_severity sev);

/* Read a secret file: refuses (-EPERM, with why) a file readable or writable
 * by group or others, owned by another user than root or the effective
 * uid, or in a directory (any from / down) that such a user owns or that
 * group or others may write to without the sticky bit; refuses (with why)
 * a symbolic link, a FIFO or another non-regular file without blocking.
 * Trailing newline stripped.  *ret (sw_secret_alloc: left out of core
 * dumps, only as large as the secret) is freed with sw_free_secret. */
int sw_secret_read(const char *path, char **ret, size_t *ret_len, char *why, size_t n);
