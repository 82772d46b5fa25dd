/* ctl_report.c: smtpwatchctl import-report and report. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

/* import-report as text: what was taken, what was refused. */
static void print_import(const json_t *d)
{
	const json_t *m = json_object_get(d, "messages"), *sp = json_object_get(d, "senders_by_protocol");
	const json_t *rej = json_object_get(d, "rejected"), *warn = json_object_get(d, "warnings");
	const char *file = json_string_value(json_object_get(d, "file")) ?: "?";
	char first[32], last[32];
	const json_t *e;
	size_t i;

	if (json_is_true(json_object_get(d, "duplicate"))) {
		printf("%s: already imported into %s on %s (as %s, same content): nothing added\n", file,
		       json_string_value(json_object_get(d, "tenant")) ?: "?",
		       json_string_value(json_object_get(d, "imported_at")) ?: "?",
		       json_string_value(json_object_get(d, "imported_as")) ?: "?");
		return;
	}
	printf("%s: imported into %s: %" JSON_INTEGER_FORMAT " rows, %" JSON_INTEGER_FORMAT " senders, %s to %s\n",
	       file, json_string_value(json_object_get(d, "tenant")) ?: "?", key_int(d, "rows"), key_int(d, "senders"),
	       key_text(d, "first_day", first, sizeof(first)), key_text(d, "last_day", last, sizeof(last)));
	printf("  Basic: %" JSON_INTEGER_FORMAT " senders, %" JSON_INTEGER_FORMAT " messages; OAuth: %" JSON_INTEGER_FORMAT
	       " senders, %" JSON_INTEGER_FORMAT " messages; unknown protocol: %" JSON_INTEGER_FORMAT " senders, %"
	       JSON_INTEGER_FORMAT " messages\n", key_int(sp, "basic"), key_int(m, "basic"), key_int(sp, "oauth"),
	       key_int(m, "oauth"), key_int(sp, "unknown"), key_int(m, "unknown"));
	printf("  %" JSON_INTEGER_FORMAT " observations new or grown\n", key_int(d, "changed"));
	if (key_int(d, "rejected_count") > 0) {
		printf("rejected lines (%" JSON_INTEGER_FORMAT "):\n", key_int(d, "rejected_count"));
		json_array_foreach(rej, i, e)
			printf("  %s:%" JSON_INTEGER_FORMAT ": %s\n", file, key_int(e, "line"),
			       json_string_value(json_object_get(e, "reason")) ?: "");
		if ((json_int_t)json_array_size(rej) < key_int(d, "rejected_count"))
			printf("  ... and %" JSON_INTEGER_FORMAT " more\n",
			       key_int(d, "rejected_count") - (json_int_t)json_array_size(rej));
	}
	json_array_foreach(warn, i, e)
		printf("  %s:%" JSON_INTEGER_FORMAT ": warning: %s\n", file, key_int(e, "line"),
		       json_string_value(json_object_get(e, "reason")) ?: "");
}

/* import-report TENANT FILE.csv: open the file here, as the caller, and
 * pass the descriptor: the daemon reads only what the caller can, and
 * never opens a path.  The absolute path goes along as the file's name. */
int do_import_report(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *pos[2];
	struct stat st;
	char *path;
	int fd, ex;

	PARSE_OR_RETURN(c, v, argc, argv, NULL, pos, 2, 2, NULL);
	path = realpath(pos[1], NULL);
	if (path == NULL) {
		ctl_err("import-report: %s: %s", pos[1], strerror(errno));
		return EXIT_USAGE;
	}
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ctl_err("import-report: %s: %s", path, strerror(errno));
		free(path);
		return EXIT_USAGE;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ctl_err("import-report: %s: not a regular file", path);
		close(fd);
		free(path);
		return EXIT_USAGE;
	}
	c->have_pass_fd = true;
	c->pass_fd = fd;
	ex = ctl_run(c, json_pack("{s:s,s:s,s:s}", "cmd", "import-report", "tenant", pos[0], "file", path),
	             print_import);
	c->have_pass_fd = false;
	close(fd);
	free(path);
	return ex;
}

/* One list of senders as a table. */
static void print_senders(const char *title, const json_t *list, bool basic)
{
	struct table t = {.ncols = basic ? 8 : 4};
	const json_t *e;
	size_t i;

	if (json_array_size(list) == 0)
		return;
	printf("%s (%zu):\n", title, json_array_size(list));
	if (basic)
		table_row(&t, (const char *[]){"  SENDER", "MESSAGES", "SIGN-INS", "LAST SEEN", "REGISTER", "OWNER",
		                               "TICKET", "EXPIRES"});
	else
		table_row(&t, (const char *[]){"  SENDER", "MESSAGES", "FIRST SEEN", "LAST SEEN"});
	json_array_foreach(list, i, e) {
		char b[8][128], s[340];
		snprintf(s, sizeof(s), "  %s", json_string_value(json_object_get(e, "sender")) ?: "?");
		if (basic)
			table_row(&t, (const char *[]){s, key_text(e, "messages", b[0], 128), key_text(e, "signins", b[1], 128),
			                               key_text(e, "last_seen", b[2], 128), key_text(e, "register", b[3], 128),
			                               key_text(e, "owner", b[4], 128), key_text(e, "ticket", b[5], 128),
			                               key_text(e, "expires", b[6], 128)});
		else
			table_row(&t, (const char *[]){s, key_text(e, "messages", b[0], 128), key_text(e, "first_seen", b[1], 128),
			                               key_text(e, "last_seen", b[2], 128)});
	}
	table_print(&t, stdout);
}

/* report as text: per tenant its state, the senders, the weeks. */
static void print_report(const json_t *d)
{
	const json_t *tenants = json_object_get(d, "tenants"), *t, *w;
	char since[32];
	size_t i, j;

	if (json_is_string(json_object_get(d, "text"))) { /* --format csv or html */
		fputs(json_string_value(json_object_get(d, "text")), stdout);
		return;
	}
	printf("SMTP AUTH retirement readiness since %s (Basic SMTP AUTH off by default after %s)\n",
	       key_text(d, "since", since, sizeof(since)),
	       json_string_value(json_object_get(d, "basic_default_off")) ?: "2026-12-31");
	if (json_array_size(tenants) == 0)
		printf("no tenants configured\n");
	json_array_foreach(tenants, i, t) {
		const json_t *rep = json_object_get(t, "reports");
		char b[4][64];
		printf("\ntenant %s (%s): %s\n  %s\n", json_string_value(json_object_get(t, "tenant")) ?: "?",
		       json_string_value(json_object_get(t, "tenant_id")) ?: "?",
		       json_string_value(json_object_get(t, "state")) ?: "?",
		       json_string_value(json_object_get(t, "state_text")) ?: "");
		printf("  tenant SMTP AUTH switch: %s; reports imported: %s (%s to %s, last import %s)\n",
		       key_text(t, "smtp_auth_tenant", b[0], 64), key_text(rep, "files", b[1], 64),
		       key_text(rep, "first_day", b[2], 64), key_text(rep, "last_day", b[3], 64),
		       json_string_value(json_object_get(rep, "last_import")) ?: "never");
		const json_t *bs = json_object_get(t, "basic_smtp");
		if (json_is_object(bs)) {
			char u[64];
			printf("  Basic SMTP AUTH through every layer: can succeed on %s of %s%s mailboxes the switches "
			       "allow (%s blocked by another layer, %s conditional, %s unknown)\n",
			       key_text(bs, "can_succeed", b[0], 64),
			       json_is_true(json_object_get(bs, "truncated")) ? "the first " : "",
			       key_text(bs, "switched_on", b[1], 64), key_text(bs, "blocked", b[2], 64),
			       key_text(bs, "conditional", b[3], 64), key_text(bs, "unknown", u, sizeof(u)));
		}
		const json_t *vd = json_object_get(t, "verdict"), *ck, *sl;
		size_t k;
		if (json_is_object(vd)) {
			printf("  %s\n", json_string_value(json_object_get(vd, "text")) ?: "CIS 1.3.2: ?");
			json_array_foreach(json_object_get(vd, "checks"), k, ck) {
				const char *st = json_string_value(json_object_get(ck, "status")) ?: "?";
				printf("    %-13s %s: %s\n", strcmp(st, "pass") == 0 ? "PASS" : strcmp(st, "fail") == 0 ? "FAIL"
				       : "NOT EVALUATED", json_string_value(json_object_get(ck, "title")) ?: "?",
				       json_string_value(json_object_get(ck, "evidence")) ?: "");
			}
		}
		json_array_foreach(json_object_get(t, "silent"), k, sl)
			if (json_is_null(json_object_get(sl, "now_on")))
				printf("  went silent: %s (since %s)\n", json_string_value(json_object_get(sl, "sender")) ?: "?",
				       json_string_value(json_object_get(sl, "silent_since")) ?: "?");
		print_senders("still on Basic SMTP AUTH", json_object_get(t, "basic"), true);
		print_senders("on OAuth", json_object_get(t, "oauth"), false);
		print_senders("protocol not in the report", json_object_get(t, "unknown"), false);
		const json_t *weeks = json_object_get(t, "weeks");
		if (json_array_size(weeks) == 0)
			continue;
		struct table tb = {.ncols = 5};
		printf("by week:\n");
		table_row(&tb, (const char *[]){"  WEEK OF", "BASIC SENDERS", "BASIC MESSAGES", "OAUTH SENDERS",
		                                "OAUTH MESSAGES"});
		json_array_foreach(weeks, j, w) {
			char c[5][64];
			snprintf(c[0], 64, "  %s", json_string_value(json_object_get(w, "week")) ?: "?");
			table_row(&tb, (const char *[]){c[0], key_text(w, "basic_senders", c[1], 64),
			                                key_text(w, "basic_messages", c[2], 64),
			                                key_text(w, "oauth_senders", c[3], 64),
			                                key_text(w, "oauth_messages", c[4], 64)});
		}
		table_print(&tb, stdout);
	}
}

/* report [--format csv|json|html] [--tenant NAME] [--since DUR] [--bom] */
int do_report(struct ctl *c, const struct ctl_verb *v, int argc, char **argv)
{
	const char *format = NULL, *since = NULL, *tenant = NULL;
	bool bom = false;
	const struct opt opts[] = {{"--format", NULL, &format}, {"--since", NULL, &since}, {"--tenant", NULL, &tenant},
	                           {"--bom", &bom, NULL}, {NULL, NULL, NULL}};
	json_t *req;

	PARSE_OR_RETURN(c, v, argc, argv, opts, NULL, 0, 0, NULL);
	/* --json promises one JSON document: a CSV or HTML one cannot be it. */
	if (c->json && format != NULL && (strcmp(format, "csv") == 0 || strcmp(format, "html") == 0))
		return verb_usage(v, "--json and --format %s exclude each other (--format json is the JSON)", format);
	if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0 && strcmp(format, "html") != 0)
		return verb_usage(v, "--format must be csv, json or html");
	if (bom && (format == NULL || strcmp(format, "csv") != 0))
		return verb_usage(v, "--bom is for --format csv (a UTF-8 byte order mark for Excel)");
	if (tenant != NULL && tenant[0] == '\0')
		return verb_usage(v, "--tenant needs a tenant name");
	if (check_duration(v, "--since", since) != 0)
		return EXIT_USAGE;
	/* --format json is the JSON document, like --json. */
	if (format != NULL && strcmp(format, "json") == 0)
		c->json = true;
	req = json_pack("{s:s}", "cmd", "report");
	if (req != NULL && format != NULL)
		json_object_set_new(req, "format", json_string(format));
	if (req != NULL && since != NULL)
		json_object_set_new(req, "since", json_string(since));
	if (req != NULL && tenant != NULL)
		json_object_set_new(req, "tenant", json_string(tenant));
	if (req != NULL && bom)
		json_object_set_new(req, "bom", json_true());
	return ctl_run(c, req, print_report);
}
