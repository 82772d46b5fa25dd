/* test_daemon_control.c: the control socket's command table (control.c):
 * every command of SPEC "Control socket" reaches its own handler, an
 * unknown one is refused, and commands that change state are refused to a
 * socket user who is not an operator while reading commands answer him.
 * The real socket on a real event base; each client is a child process,
 * as root or as a test user made with useradd (root only; skipped with a
 * reason otherwise). */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check_main.h"
#include "control.h"
#include "daemon_fixture.h"

static struct dfx f;
static bool have_user;           /* the test user and groups exist */
static char user[24], grp_sock[24], grp_ops[24];
static uid_t user_uid;
static gid_t sock_gid, ops_gid;

/* Who the client is. */
enum who {
	AS_SELF,     /* the daemon's own user (root here, or whoever runs the suite) */
	AS_OPERATOR, /* the test user, with operator_group among its process's groups */
	AS_READER,   /* the test user, in the socket group only */
};

/* One request, whether it needs an operator, and what in its reply shows
 * that its own handler answered (not "unknown command", not a neighbour's
 * answer). */
static const struct route {
	const char *req;
	bool operate;
	const char *expect;
} routes[] = {
	{"{\"cmd\":\"status\"}", false, "\"uptime_s\":"},
	{"{\"cmd\":\"alerts\"}", false, "{\"alerts\":["},
	{"{\"cmd\":\"alert\",\"id\":\"0000\"}", false, "no alert 0000"},
	{"{\"cmd\":\"poll\"}", true, "{\"polling\":[\"contoso\"]}"},
	{"{\"cmd\":\"reload\"}", true, "{\"reloaded\":true}"},
	{"{\"cmd\":\"ack\",\"id\":\"0000\",\"note\":5}", true, "\\\"note\\\" must be a string"},
	{"{\"cmd\":\"silence\"}", false, "{\"silences\":["},
	{"{\"cmd\":\"silence\",\"rule\":\"smtp-auth-brute-force\",\"subject\":\"*\",\"for\":\"1h\"}", true,
	 "{\"silence\":{"},
	{"{\"cmd\":\"unsilence\",\"rule\":\"smtp-auth-brute-force\",\"subject\":\"*\"}", true, "{\"unsilenced\":{"},
	{"{\"cmd\":\"exceptions\"}", false, "\"exceptions\":["},
	/* "no mailbox alice@..." or her row: the poll above may have read
	 * Exchange by now (a reload no longer cuts an unchanged tenant's run). */
	{"{\"cmd\":\"mailbox\",\"address\":\"alice@contoso.com\"}", false, "alice@contoso.com"},
	{"{\"cmd\":\"import-report\",\"tenant\":\"contoso\"}", true, "\\\"tenant\\\" and \\\"file\\\""},
	{"{\"cmd\":\"metrics\"}", false, "smtpwatch_info{version="},
	{"{\"cmd\":\"report\"}", false, "\"basic_default_off\":"},
	/* part of the protocol, not of this version: answered so, to anyone */
	{"{\"cmd\":\"remediate\"}", true, "remediate needs an alert id"},
	{"{\"cmd\":\"remediation\",\"id\":1}", false, "no remediation 1"},
	{"{\"cmd\":\"plan\"}", false, "remediation is off for every tenant"},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static void run(const char *cmd)
{
	ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

/* Once for the suite, in the parent (an unchecked fixture), so the user
 * and groups go away even when a test fails. */
static void users_make(void)
{
	char cmd[256];
	struct passwd *pw;
	struct group *gr;

	have_user = geteuid() == 0;
	if (!have_user)
		return;
	snprintf(user, sizeof(user), "swdt%d", (int)getpid());
	snprintf(grp_sock, sizeof(grp_sock), "swdts%d", (int)getpid());
	snprintf(grp_ops, sizeof(grp_ops), "swdto%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "groupadd %s && groupadd %s && useradd -M -N -g %s -s /bin/false %s", grp_sock,
	         grp_ops, grp_sock, user);
	run(cmd);
	/* getpwnam and getgrnam answer in static buffers: one at a time */
	ck_assert_ptr_nonnull(pw = getpwnam(user));
	user_uid = pw->pw_uid;
	ck_assert_ptr_nonnull(gr = getgrnam(grp_sock));
	sock_gid = gr->gr_gid;
	ck_assert_ptr_nonnull(gr = getgrnam(grp_ops));
	ops_gid = gr->gr_gid;
}

static void users_remove(void)
{
	char cmd[256];

	if (!have_user)
		return;
	snprintf(cmd, sizeof(cmd), "userdel %s; groupdel %s; groupdel %s", user, grp_ops, grp_sock);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove the test user and groups: %s\n", cmd);
}

static void setup(void)
{
	char extra[160] = "", why[512];

	if (have_user)
		snprintf(extra, sizeof(extra), "socket_group = %s\noperator_group = %s\n", grp_sock, grp_ops);
	dfx_open(&f, "foundation.json", extra);
	ck_assert_int_eq(chmod(f.dir, 0755), 0); /* the test user reaches the socket */
	ck_assert_msg(control_new(&f.d, f.d.cfg->daemon.socket, f.d.cfg->daemon.socket_group, &f.d.control, why,
	                          sizeof(why)) == 0, "control_new: %s", why);
}

static void teardown(void)
{
	dfx_close(&f);
}

/* The client: become who, send each request on one connection, write each
 * reply line to out. */
static void client(enum who who, const char *const *reqs, size_t n, FILE *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *line = NULL;
	size_t cap = 0;
	int fd;

	if (who != AS_SELF) {
		gid_t groups[1] = {ops_gid};
		if (setgroups(who == AS_OPERATOR ? 1 : 0, groups) < 0 || setgid(sock_gid) < 0 || setuid(user_uid) < 0)
			_exit(2);
	}
	if (strlen(f.socket) >= sizeof(sa.sun_path))
		_exit(3);
	memcpy(sa.sun_path, f.socket, strlen(f.socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "client: connect %s: %s\n", f.socket, strerror(errno));
		_exit(3);
	}
	FILE *in = fdopen(fd, "r");
	for (size_t i = 0; i < n; i++) {
		if (write(fd, reqs[i], strlen(reqs[i])) < 0 || write(fd, "\n", 1) != 1)
			_exit(4);
		if (getline(&line, &cap, in) <= 0)
			_exit(5);
		fputs(line, out);
	}
	fflush(out);
	_exit(0);
}

static bool child_gone(void *arg)
{
	pid_t *pid = arg;
	int status;

	if (waitpid(*pid, &status, WNOHANG) != *pid)
		return false;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the client failed (status %d)", status);
	return true;
}

/* Ask every request as who (the daemon's loop runs meanwhile); replies[i]
 * is the reply line to reqs[i] (malloc'd). */
static void ask(enum who who, const char *const *reqs, size_t n, char **replies)
{
	char path[128], *line = NULL;
	size_t cap = 0;
	FILE *out;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/replies", f.dir);
	out = fopen(path, "w+");
	ck_assert_ptr_nonnull(out);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		client(who, reqs, n, out);
	ck_assert_msg(dfx_run_until(&f, child_gone, &pid, 30000), "the client did not finish");
	rewind(out);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(getline(&line, &cap, out) > 0, "no reply to %s", reqs[i]);
		replies[i] = strdup(line);
	}
	free(line);
	fclose(out);
}

static void ask_routes(enum who who, char **replies)
{
	const char *reqs[N_ROUTES];

	for (size_t i = 0; i < N_ROUTES; i++)
		reqs[i] = routes[i].req;
	ask(who, reqs, N_ROUTES, replies);
}

static bool has(const char *reply, const char *what)
{
	return strstr(reply, what) != NULL;
}

/* As the daemon's own user: every command answers from its own handler. */
START_TEST(test_every_command_routes)
{
	char *replies[N_ROUTES];

	ask_routes(AS_SELF, replies);
	for (size_t i = 0; i < N_ROUTES; i++) {
		ck_assert_msg(has(replies[i], routes[i].expect), "%s answered %.300s, expected %s", routes[i].req,
		              replies[i], routes[i].expect);
		free(replies[i]);
	}
}
END_TEST

/* A command the table does not hold is refused by name; the connection
 * goes on serving. */
START_TEST(test_unknown_command_refused)
{
	const char *reqs[] = {"{\"cmd\":\"frobnicate\"}", "{\"cmd\":\"Status\"}", "{\"cmd\":\"status\"}"};
	char *replies[3];

	ask(AS_SELF, reqs, 3, replies);
	ck_assert_str_eq(replies[0], "{\"ok\":false,\"error\":\"unknown command \\\"frobnicate\\\"\"}\n");
	ck_assert(has(replies[1], "unknown command \\\"Status\\\""));
	ck_assert(has(replies[2], "\"uptime_s\":"));
	for (int i = 0; i < 3; i++)
		free(replies[i]);
}
END_TEST

/* A socket user outside operator_group: the reading commands answer him,
 * those that change state say permission denied (silence only when it
 * sets one). */
START_TEST(test_reader_cannot_operate)
{
	char *replies[N_ROUTES];

	if (!have_user) {
		printf("skipped: a second Unix user needs root\n");
		return;
	}
	ask_routes(AS_READER, replies);
	for (size_t i = 0; i < N_ROUTES; i++) {
		bool absent = has(routes[i].expect, "not available");
		if (routes[i].operate && !absent)
			ck_assert_msg(has(replies[i], "permission denied") && has(replies[i], "operator_group"),
		              "%s from a reader answered %.300s", routes[i].req, replies[i]);
		else
			ck_assert_msg(has(replies[i], routes[i].expect), "%s from a reader answered %.300s, expected %s",
		              routes[i].req, replies[i], routes[i].expect);
		free(replies[i]);
	}
}
END_TEST

/* The same user with operator_group among his process's groups runs
 * every command. */
START_TEST(test_operator_group_operates)
{
	char *replies[N_ROUTES];

	if (!have_user) {
		printf("skipped: a second Unix user needs root\n");
		return;
	}
	ask_routes(AS_OPERATOR, replies);
	for (size_t i = 0; i < N_ROUTES; i++) {
		ck_assert_msg(has(replies[i], routes[i].expect), "%s from an operator answered %.300s, expected %s",
		              routes[i].req, replies[i], routes[i].expect);
		free(replies[i]);
	}
}
END_TEST

/* Append the tenants branchN of the list (0-ended) to the config, all
 * pointing at the simulator's contoso. */
static void branches_write(const int *which)
{
	char secret[160];
	FILE *c = fopen(f.conf, "a");

	ck_assert_ptr_nonnull(c);
	snprintf(secret, sizeof(secret), "%s/contoso.secret", f.dir);
	for (const int *i = which; *i != 0; i++)
		fprintf(c,
		        "\n[tenant branch%d]\ntenant_id = contoso.onmicrosoft.com\n"
		        "client_id = 11111111-1111-1111-1111-111111111111\nclient_secret_file = %s\n"
		        "login_url = %s\ngraph_url = %s\nexchange_url = %s\n",
		        *i, secret, f.sim_url, f.sim_url, f.sim_url);
	fclose(c);
}

/* The status document a job's text holds (new reference). */
static json_t *job_document(struct control_job *job)
{
	json_error_t err;
	json_t *doc = json_loadb(job->reply.data, job->reply.len, 0, &err);

	ck_assert_msg(doc != NULL, "the status text is not JSON: %s (%.200s)", err.text, job->reply.data);
	return doc;
}

/* status is built a tenant a step (control_status.c): a reload between
 * two steps that removes a tenant already written (branch1) and one not
 * yet (branch3) moves the others in d->tenants; the reply still holds
 * each tenant of the request at most once, the one written, and the one
 * left that was not yet (branch2), and not the one removed in time, and
 * the document is whole, with every member status has (SPEC "Control
 * socket"). */
START_TEST(test_status_steps_across_reload)
{
	struct control_job *job = NULL;
	struct control_peer peer = {.uid = 0, .pid = 0, .fd = -1, .later = &job};
	const char *want[] = {"contoso", "branch1", "branch2"}, *key;
	json_t *data = NULL, *doc, *tenants, *v;
	char saved[4096], why[512] = "";
	size_t len, i = 0;
	FILE *c;
	int r;

	c = fopen(f.conf, "r");
	ck_assert_ptr_nonnull(c);
	len = fread(saved, 1, sizeof(saved) - 1, c);
	saved[len] = '\0';
	fclose(c);
	branches_write((const int[]){1, 2, 3, 0});
	ck_assert_msg(daemon_reload(&f.d, why, sizeof(why)) >= 0, "reload: %s", why);
	ck_assert_uint_eq(f.d.n_tenants, 4);

	ck_assert_int_eq(control_cmd_status(&f.d, &peer, NULL, &data, why, sizeof(why)), CONTROL_LATER);
	ck_assert_ptr_nonnull(job);
	/* The head, contoso, branch1. */
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(job->step(job, &data, why, sizeof(why)), 0);
	c = fopen(f.conf, "w");
	ck_assert_ptr_nonnull(c);
	fputs(saved, c);
	fclose(c);
	branches_write((const int[]){2, 0});
	ck_assert_msg(daemon_reload(&f.d, why, sizeof(why)) >= 0, "reload: %s", why);
	ck_assert_uint_eq(f.d.n_tenants, 2);
	for (int k = 0; k < 10 && (r = job->step(job, &data, why, sizeof(why))) == 0; k++)
		;
	ck_assert_int_eq(r, 1);
	ck_assert_ptr_null(data);

	doc = job_document(job);
	tenants = json_object_get(doc, "tenants");
	ck_assert_uint_eq(json_object_size(tenants), 3);
	json_object_foreach(tenants, key, v) {
		ck_assert_str_eq(key, want[i++]);
		ck_assert_ptr_nonnull(json_object_get(json_object_get(v, "sources"), "signins"));
		ck_assert_ptr_nonnull(json_object_get(v, "tenant_id"));
	}
	for (const char **m = (const char *[]){"version", "uptime_s", "config", "sinks", "alerts", "loop", NULL}; *m;
	     m++)
		ck_assert_msg(json_object_get(doc, *m) != NULL, "status without %s", *m);
	json_decref(doc);
	sw_buf_clear(&job->reply);
	job->free(job);
}
END_TEST

static Suite *daemon_control_suite(void)
{
	Suite *s = suite_create("daemon_control");
	TCase *tc = tcase_create("control");

	tcase_add_unchecked_fixture(tc, users_make, users_remove);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_command_routes);
	tcase_add_test(tc, test_unknown_command_refused);
	tcase_add_test(tc, test_reader_cannot_operate);
	tcase_add_test(tc, test_operator_group_operates);
	tcase_add_test(tc, test_status_steps_across_reload);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(daemon_control_suite)
