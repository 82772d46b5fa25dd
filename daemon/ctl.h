/* ctl.h: what the command files of smtpwatchctl share: the connection,
 * argument parsing and the table printer. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CTL_DEFAULT_SOCKET "/run/smtpwatch/control.sock"
/* smtpwatchctl -i NAME: the socket of smtpwatchd@NAME.service (its
 * RuntimeDirectory=smtpwatch-%i, and socket = in /etc/smtpwatch/NAME.conf). */
#define CTL_INSTANCE_FMT "/run/smtpwatch-%s/control.sock"
#define CTL_TIMEOUT_MS 30000
#define CTL_MAX_REPLY (64 * 1024 * 1024)

/* Exit codes (SPEC "Programs"). */
enum {
	EXIT_OK = 0,
	EXIT_DAEMON = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

struct ctl {
	const char *socket;
	bool json;
	/* Pass pass_fd with the request (SCM_RIGHTS): import-report. */
	bool have_pass_fd;
	int pass_fd;
};

/* A command: parses its arguments, asks the daemon, prints the answer. */
struct ctl_verb {
	const char *name;
	int (*fn)(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
	const char *args; /* for usage */
};


/* Text columns, each as wide as its widest cell; the last is not padded. */
struct table {
	size_t ncols;
	size_t n, cap; /* cells */
	char **cells;
};

/* One option of a command: a flag (val NULL) or an option with a value. */
struct opt {
	const char *name; /* "--since" */
	bool *flag;
	const char **val;
};

/* Parse with parse_args and map its result to an exit code (-1 done). */
#define PARSE_OR_RETURN(...)                                           \
	do {                                                           \
		int pr_ = parse_args(__VA_ARGS__);                     \
		if (pr_ != 0)                                          \
			return pr_ < 0 ? EXIT_USAGE : EXIT_OK;         \
	} while (0)

size_t text_width(const char *s);
void table_cell(struct table *t, const char *s);
void table_row(struct table *t, const char **cells);
void table_print(struct table *t, FILE *f);
const char *value_text(const json_t *v, char *buf, size_t n);
const char *key_text(const json_t *obj, const char *key, char *buf, size_t n);
json_int_t key_int(const json_t *obj, const char *key);
void format_uptime(json_int_t s, char *buf, size_t n);
void print_json(const json_t *data);
/* "smtpwatchctl: MESSAGE" on stderr; under --json the first one is also
 * the error of the {"ok":false,"error":...} document main prints. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void print_generic(const json_t *data);
/* Send req (stolen) and return the reply's data (new reference), or NULL
 * with a message printed and the exit code in *ret_exit. */
json_t *ctl_call(const struct ctl *c, json_t *req, int *ret_exit);
/* Ask the daemon (req is stolen); print with human() or as JSON; the exit code. */
int ctl_run(const struct ctl *c, json_t *req, void (*human)(const json_t *data));
int verb_usage(const struct ctl_verb *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int parse_args(struct ctl *c, const struct ctl_verb *v, int argc, char **argv, const struct opt *opts,
               const char **pos, int min, int max, int *ret_npos);
int check_duration(const struct ctl_verb *v, const char *opt, const char *s);

/* ctl_lifecycle.c */
int do_ack(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
int do_silence(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
int do_unsilence(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
/* ctl_exo.c */
int do_exceptions(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
int do_mailbox(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
/* ctl_audit.c */
int do_changes(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
/* The table of audit changes (who, when, from where, cmdlet, object,
 * change), each line after indent; with a TENANT column or without. */
void print_change_table(const json_t *changes, bool with_tenant, const char *indent);
/* An alert's changed_by for people: "switched on by USER 40 minutes ago
 * from IP (CMDLET)", or its note when nobody is named. */
void changed_by_text(const json_t *changed_by, char *buf, size_t n);
/* ctl_remedy.c */
int do_remediate(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
int do_remediation(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
int do_plan(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
/* ctl_report.c */
int do_import_report(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
int do_report(struct ctl *c, const struct ctl_verb *v, int argc, char **argv);
