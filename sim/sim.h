/* sim.h: shared pieces of smtpwatch-sim, the simulated Microsoft 365 tenant.
 *
 * Times inside the simulator are "ticks": 100 ns units since the Unix epoch,
 * the resolution of Microsoft's createdDateTime (7 fractional digits).  The
 * simulator clock is the wall clock plus an offset that /_sim/clock moves. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#define TICKS_PER_SEC 10000000LL

/* One sign-in series of a scenario: expands to count records. */
struct sim_series {
	char **users, **ips, **countries, **cities, **states;
	size_t n_users, n_ips, n_countries, n_cities, n_states;
	char *client_app;     /* clientAppUsed, "Authenticated SMTP" */
	int error_code;
	char *failure_reason; /* NULL with failure_reason_null: JSON null */
	bool failure_reason_null;
	int64_t at;            /* ticks of record 0 */
	int64_t every;         /* ticks between records */
	int64_t visible_after; /* ticks of late arrival */
	long count;
	long dup_every;    /* every Nth record is delivered twice (0: never) */
	char id_prefix[9]; /* lower-case hex, "" when none */
	uint32_t no;       /* series number within the tenant */
	long fraction_digits; /* of createdDateTime: 0 to 9, 7 like Graph */
	bool omit_id;         /* records without "id": what a client cannot read */
};

/* One expanded sign-in record; rendered on the fly. */
struct sim_signin {
	int64_t created; /* ticks */
	int64_t visible; /* ticks from which queries see it */
	uint64_t id_hi, id_lo;
	uint32_t series; /* index in tenant->series */
	uint32_t index;  /* record number within its series */
	uint8_t dup;     /* 1 for the second copy of a duplicated record */
};

/* A change to the Exchange state at a given time. */
enum change_kind { CHANGE_TRANSPORT, CHANGE_ORGANIZATION, CHANGE_MAILBOX, CHANGE_POLICY, CHANGE_CA, CHANGE_SECDEFAULTS };
enum change_op { OP_SET, OP_ADD, OP_REMOVE };

struct sim_change {
	int64_t at; /* ticks */
	enum change_kind kind;
	enum change_op op;
	char *name;   /* mailbox address (lower case), policy name, CA policy id or displayName */
	json_t *set;  /* fields to merge (new reference), NULL for remove; CHANGE_SECDEFAULTS: true/false */
	size_t order; /* tie-break: file order */
};

struct sim_cert; /* assertion.c */

/* One admin record of the unified audit log (manage.c). */
struct sim_audit_rec {
	int64_t at;      /* CreationTime, ticks, whole second */
	int64_t visible; /* ticks from which its blob is listed */
	char *id, *user, *ip, *operation, *object_id, *result;
	int user_type;
	json_t *parameters; /* array of {Name, Value}, or a string; NULL: [] */
	json_t *raw;        /* fields merged over the record, NULL none */
	bool duplicate;     /* also in a second blob a minute later */
	size_t order;
};
/* AUDIT_OFF: unified audit logging is off for the tenant (the audit service
 * does not know it): the start answers "Tenant ... does not exist." */
enum { AUDIT_SUB_NONE, AUDIT_SUB_ENABLED, AUDIT_SUB_DISABLED, AUDIT_OFF };

struct sim_tenant {
	char *name;      /* "contoso.onmicrosoft.com" */
	char *tenant_id; /* GUID alias, may be NULL */
	char *client_id, *client_secret, *domain; /* client_secret may be NULL (certificates only) */
	bool client_secret_expired; /* the right secret gets AADSTS7000222 */
	/* "write_app": a second app registration holding the role for Set-*
	 * cmdlets; while set, the main app's writes answer 403. */
	char *write_client_id, *write_client_secret;
	struct sim_cert **certs;    /* registered certificate credentials */
	size_t n_certs;
	uint64_t seed; /* hash of the name */

	struct sim_series **series;
	size_t n_series, cap_series;
	struct sim_signin *signins; /* sorted newest first */
	size_t n_signins, cap_signins;

	json_t *transport_config;     /* fields merged over the defaults */
	json_t *organization_config;
	json_t *mailboxes;            /* array of full rows */
	json_t *policies;             /* array of full rows */
	long gen_count;               /* generate_mailboxes */
	char *gen_prefix;
	json_t *gen_smtp_disabled;    /* true, false or null */
	int gen_width;

	struct sim_change *changes;
	size_t n_changes, cap_changes;

	/* Entra (capolicy.c): conditional access policies (full Graph objects,
	 * user names already turned into ids), security defaults, groups
	 * (object: group id -> array of member ids, user or group), and the
	 * application permissions the scenario withholds (403). */
	json_t *ca_policies;
	bool security_defaults;
	json_t *groups;
	json_t *withheld;

	/* the Management Activity API: Audit.Exchange records, subscription */
	struct sim_audit_rec *audit; /* sorted by at */
	size_t n_audit, cap_audit;
	int audit_sub;               /* AUDIT_SUB_* */
	char *audit_disabled_by;

	struct sim_usage *usage; /* usage.c: no_p1, usage report, message trace */

	/* throttling of the sign-ins API: request times in a ring */
	int64_t *throttle_ring;
	size_t throttle_pos;
};

enum sim_endpoint { EP_TOKEN, EP_SIGNINS, EP_EXCHANGE, EP_HOOKS, EP_ANY, EP_CONTROL, EP_OTHER, EP_POLICIES, EP_MANAGE };

struct sim_fault {
	enum sim_endpoint endpoint;
	char *tenant; /* NULL: any */
	char *hook;   /* NULL: any receiver */
	long after, count;
	long seen, hits;
	int status;
	int retry_after; /* -1: no Retry-After */
	int delay_ms;
	bool truncate, reset, bad_json, invalid_utf8, expire_token, secret_expired;
	int big_body_mb;
	char *content_type;
	/* Hostile paging and tokens: answer normally, but with this
	 * @odata.nextLink (signins, exchange), with the request's own URL as
	 * the nextLink (a loop), or with this text as the token answer's
	 * expires_in value ("" leaves the field out). */
	char *next_link;
	bool next_link_loop;
	char *expires_in_raw;
	char *body; /* 200 with exactly this body (JSON text, as given) */
	char *cmdlet; /* exchange: only requests running this cmdlet (any case); NULL: any */
	json_t *spec; /* the object as given, for GET /_sim/faults */
};

struct sim_token {
	char *token;
	const struct sim_tenant *tenant;
	char *resource;
	int kind; /* TOKEN_GRAPH, TOKEN_EXCHANGE, TOKEN_MANAGE, TOKEN_ANY */
	bool write_app; /* issued to the tenant's write_app */
	int64_t expires; /* ticks */
	struct sim_token *next;
};
enum { TOKEN_ANY = 0, TOKEN_GRAPH = 1, TOKEN_EXCHANGE = 2, TOKEN_MANAGE = 3 };
#define TOKEN_BUCKETS 1024

struct sim_receiver {
	char *name;
	int status;     /* 0: close without answering */
	int retry_after;
	char *body;     /* NULL: the default answer */
	json_t *records; /* array */
	struct sim_receiver *next;
};

struct sim_stats {
	unsigned long token, signins, exchange, hooks, control, other, policies;
	unsigned long faults_served, status_429, tokens_issued, throttled;
	unsigned long signin_records_served, exchange_rows_served;
	unsigned long manage, audit_blobs_listed, audit_records_served, audit_no_publisher;
	unsigned long reports, report_downloads, report_downloads_authz, traces;
	unsigned long connections; /* that carried a request other than /_sim/ */
};

struct sim {
	struct event_base *base;
	struct evhttp *http;
	bool verbose;
	char listen_host[64]; /* for URLs when a request has no Host */
	int port;

	char *scenario_dir;   /* relative certificate paths start here */
	int64_t start;        /* ticks, whole second: the scenario's "0s" */
	int64_t clock_offset; /* ticks added to the wall clock */

	long page_size, exchange_page_size;
	long audit_page_size; /* content listing entries per page */
	long token_lifetime;
	int64_t skiptoken_lifetime; /* ticks, 0: never expire */
	long throttle_requests;     /* 0: no throttling */
	int64_t throttle_window;    /* ticks */
	int throttle_retry_after;

	struct sim_tenant **tenants;
	size_t n_tenants;
	struct sim_fault **faults;
	size_t n_faults, cap_faults;
	struct sim_token *tokens[TOKEN_BUCKETS];
	struct sim_receiver *receivers;
	struct pending *pending; /* delayed replies */
	struct sim_stats stats;
	struct evhttp_connection **conns; /* open, counted in stats.connections */
	size_t n_conns, cap_conns;
	struct evhttp *dl_http;   /* usage.c: the report download port */
	int dl_port;
	struct usage_blob *blobs;
	json_t *exo_writes; /* Set-* cmdlets InvokeCommand ran (GET /_sim/exchange-writes), NULL: none yet */
};

/* Per-request context passed through the handlers. */
struct sim_req {
	struct sim *sim;
	struct evhttp_request *req;
	enum sim_endpoint ep;
	const struct sim_tenant *tenant;
	const char *hook;
	struct sim_fault *fault; /* chosen fault, NULL when none */
	char request_id[37];
	char cmdlet[64]; /* exchange: the CmdletName of the body, "" when none */
	char base_url[300]; /* "http://127.0.0.1:PORT" from Host */
};

/* ---- util.c ---- */
int64_t sim_wall_ticks(void);
int64_t sim_now(const struct sim *sim);
uint64_t sim_hash(const char *s);
uint64_t sim_mix(uint64_t x);
/* Format a GUID from two 64-bit halves, v4-shaped; buf >= 37. */
void sim_guid(uint64_t hi, uint64_t lo, char *buf);
/* Deterministic GUID of a string (user ids, mailbox ids). */
void sim_guid_of(const char *kind, const char *s, char *buf);
void sim_random_guid(char *buf);
/* "-90m", "+2h", "0s", "45" (seconds) or ISO-8601: ticks; relative to base. */
int sim_time_parse(const char *s, int64_t base, int64_t *ret);
/* "5m", "30s", "2h", "7d", bare seconds: ticks; negative refused. */
int sim_duration_parse(const char *s, int64_t *ret);
/* ISO-8601 with 0..7 fractional digits, Z or +hh:mm: ticks. */
int sim_iso_parse(const char *s, int64_t *ret);
/* ticks -> "2026-11-20T08:01:12.6195833Z" (frac7) or "...12Z"; buf >= 32. */
void sim_iso_format(int64_t ticks, bool frac7, char *buf, size_t n);
/* Append a quoted JSON string (UTF-8 passed through). NULL -> null. */
void sim_json_str(struct evbuffer *b, const char *s);
char *sim_strdup_lower(const char *s);
void *sim_xmalloc(size_t n);
void *sim_xrealloc(void *p, size_t n);
char *sim_xstrdup(const char *s);
/* Append json (compact) to an evbuffer. */
void sim_json_add(struct evbuffer *b, const json_t *j);
bool sim_utf8_valid(const char *s, size_t n);

/* ---- scenario.c ---- */
/* Load a scenario file; on error print "FILE: message" and return -1. */
int scenario_load(struct sim *sim, const char *file);
void scenario_free(struct sim *sim);
struct sim_tenant *scenario_tenant(struct sim *sim, const char *name);
/* Parse series from a JSON array and append them (times relative to base). */
int scenario_add_series(struct sim_tenant *t, json_t *arr, int64_t base, const char *where, char *err,
	size_t errn);
int scenario_add_changes(struct sim_tenant *t, json_t *arr, int64_t base, const char *where, char *err,
	size_t errn);
/* Parse one fault object; NULL with err on error. */
struct sim_fault *fault_parse(json_t *o, const char *where, char *err, size_t errn);
void fault_free(struct sim_fault *f);
int sim_add_fault(struct sim *sim, struct sim_fault *f);
const char *sim_failure_reason(int code);

/* ---- graph.c ---- */
void token_handle(struct sim_req *r, const char *tenant);
void signins_handle(struct sim_req *r);
/* Look a bearer token up; NULL when absent/unknown (no expiry check). */
struct sim_token *token_lookup(struct sim *sim, struct evhttp_request *req);
void tokens_free(struct sim *sim);
/* 401 InvalidAuthenticationToken unless the request carries a token valid
 * now for kind; returns the token or NULL after answering. */
struct sim_token *token_require(struct sim_req *r, int kind);

/* 401 invalid_client AADSTS7000222: the client secret has expired. */
void token_secret_expired(struct sim_req *r, const struct sim_tenant *t);

/* ---- assertion.c ---- */
/* Register the certificates of a PEM text or file with t (keys skipped);
 * -1 with "where: message" in err. */
int sim_cert_add_pem(struct sim_tenant *t, const char *pem, size_t len, const char *where, char *err, size_t errn);
int sim_cert_add_file(struct sim_tenant *t, const char *path, const char *where, char *err, size_t errn);
void sim_certs_free(struct sim_tenant *t);
/* Why the identity platform refuses a client assertion. */
struct assertion_failure {
	int status;        /* 400 or 401 */
	const char *error; /* "invalid_client", ... */
	int code;          /* AADSTS number */
	char msg[900];
};
/* Check a client assertion presented to tenant t at token_url (the URL the
 * client used): alg RS256/PS256, x5t/x5t#S256 naming a registered
 * certificate valid at sim_now, the signature, iss = sub = client_id,
 * aud = token_url, jti, and exp/nbf against wall_now (the client signs
 * with its own clock) with a lifetime of at most 10 minutes.  0 when
 * valid, else -1 and *f. */
int assertion_check(const struct sim_tenant *t, const char *jwt, const char *token_url, int64_t wall_now,
	int64_t sim_now, struct assertion_failure *f);

/* ---- manage.c ---- */
/* rest: what follows "/api/v1.0/" ("{tenant}/activity/feed/..."). */
void manage_handle(struct sim_req *r, const char *rest, enum evhttp_cmd_type method);
void manage_error(struct sim_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The Management API's error for a status fault. */
void manage_fault_reply(struct sim_req *r, int status);
int scenario_add_audit(struct sim_tenant *t, json_t *arr, int64_t base, const char *where, char *err, size_t errn);
void audit_rec_free(struct sim_audit_rec *a);
/* Unknown keys are errors ("_..." , "description", "comment" are comments). */
int sim_check_keys(json_t *o, const char *const *allowed, const char *where, char *err, size_t errn);

/* ---- exchange.c ---- */
void exchange_handle(struct sim_req *r, const char *tenant);

/* ---- capolicy.c: Entra policies and group members (Graph) ---- */
/* GET .../identity/conditionalAccess/policies */
void ca_policies_handle(struct sim_req *r);
/* POST .../identity/conditionalAccess/evaluate (What If) */
void ca_evaluate_handle(struct sim_req *r);
/* GET .../policies/identitySecurityDefaultsEnforcementPolicy */
void secdefaults_handle(struct sim_req *r);
/* GET .../groups/{id}/transitiveMembers/microsoft.graph.user (group: the id) */
void group_members_handle(struct sim_req *r, const char *group);
/* Scenario keys conditional_access_policies, security_defaults, groups,
 * withhold_permissions of tenant t; -1 with "where.key: message" in err. */
int ca_scenario_parse(struct sim_tenant *t, json_t *o, const char *where, char *err, size_t errn);
/* A user named by address ("a@b") becomes its Entra object id, as the
 * mailbox rows and sign-ins have it; anything else is kept (new string). */
char *ca_user_id(const char *name);

/* ---- usage.c: email app usage report, report settings, message trace, no P1 ---- */
/* Scenario keys no_p1, usage, trace of tenant t (always allocates t->usage). */
int usage_scenario_parse(struct sim_tenant *t, json_t *o, int64_t base, const char *where, char *err, size_t errn);
void usage_free(struct sim_tenant *t);
/* signIns of a tenant without P1: answers 403 and returns true. */
bool usage_no_p1(struct sim_req *r);
/* GET .../reports/getEmailAppUsageUserDetail(FN): 302 to the download port. */
void usage_report_handle(struct sim_req *r, const char *fn);
/* GET .../admin/reportSettings */
void usage_settings_handle(struct sim_req *r);
/* GET .../admin/exchange/tracing/messageTraces */
void trace_handle(struct sim_req *r);
/* The second loopback port serving the reports; 0 or -1. */
int usage_listen(struct sim *sim, const char *listen);
void usage_shutdown(struct sim *sim);
/* POST /_sim/tenants/T/usage {"concealed", "csv" (null: generated), "location" (null: the download port),
 * "refresh", "no_p1", "trace_provisioning", "withhold_permissions"}: change what the next report answers. */
void usage_control(struct sim_req *r, struct sim_tenant *t, json_t *j);

/* ---- hooks.c ---- */
void hooks_handle(struct sim_req *r, const char *path);
void hooks_get(struct sim_req *r, const char *name);
void hooks_delete(struct sim_req *r, const char *name);
void hooks_set_status(struct sim_req *r, const char *name);
void hooks_list(struct sim_req *r);
void receivers_free(struct sim *sim);

/* ---- smtpwatch-sim.c: answering ---- */
/* Answer with a JSON body (taken over); applies the chosen fault. */
void sim_reply(struct sim_req *r, int status, struct evbuffer *body);
void sim_reply_json(struct sim_req *r, int status, json_t *j); /* steals j */
/* Graph error {"error":{"code","message","innerError"}} */
void sim_graph_error(struct sim_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Answer as the chosen fault says when it replaces the answer; true if so. */
bool fault_answer(struct sim_req *r);
/* The nextLink a next_link or next_link_loop fault puts in this answer,
 * appended to link (NUL-terminated); false when no such fault applies. */
bool fault_next_link(struct sim_req *r, struct evbuffer *link);
/* Close the connection without an answer. */
void sim_reset(struct sim_req *r);
/* Body of the request as a NUL-terminated malloc'd string (len in ret_len). */
char *sim_body(struct evhttp_request *req, size_t *ret_len);
void sim_log(struct sim *sim, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
