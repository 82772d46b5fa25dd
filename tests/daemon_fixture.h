/* daemon_fixture.h: what the daemon's unit suites share: the real
 * simulator on a loopback port, a config that points the tenant "contoso"
 * at it, and a daemon built from that config the way smtpwatchd builds
 * one (store, event base, HTTP, tenants, delivery), with no source started.
 * Every wait is bounded. */
#pragma once

#include <check.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "deliver.h"
#include "http.h"
#include "log.h"
#include "smtpwatchd.h"
#include "smtpwatchd_internal.h"

struct dfx {
	char dir[64];
	char conf[128];
	char socket[128];
	pid_t sim_pid;
	char sim_url[64];
	struct daemon d;
};

/* Start smtpwatch-sim (SMTPWATCH_SIM) on scenario (in SW_SCENARIOS) and
 * wait for its port file, 10 s at most. */
static inline void dfx_sim_start(struct dfx *f, const char *scenario)
{
	const char *sim = getenv("SMTPWATCH_SIM"), *dir = getenv("SW_SCENARIOS");
	char portfile[128], path[512];
	int port = 0;

	ck_assert_msg(sim != NULL && dir != NULL, "SMTPWATCH_SIM and SW_SCENARIOS must be set (meson test sets them)");
	snprintf(portfile, sizeof(portfile), "%s/sim.port", f->dir);
	snprintf(path, sizeof(path), "%s/%s", dir, scenario);
	f->sim_pid = fork();
	ck_assert_int_ge(f->sim_pid, 0);
	if (f->sim_pid == 0) {
		char logpath[128];
		/* A failed test ends its process without the teardown: the
		 * simulator goes with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		snprintf(logpath, sizeof(logpath), "%s/sim.log", f->dir);
		if (freopen(logpath, "w", stdout) == NULL || dup2(fileno(stdout), 2) < 0)
			_exit(127);
		execl(sim, sim, "-s", path, "-p", "0", "--port-file", portfile, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000 && port == 0; i++) {
		FILE *p = fopen(portfile, "r");
		if (p == NULL || fscanf(p, "%d", &port) != 1)
			usleep(10000);
		if (p != NULL)
			fclose(p);
	}
	ck_assert_msg(port > 0, "the simulator did not start (see %s/sim.log)", f->dir);
	snprintf(f->sim_url, sizeof(f->sim_url), "http://127.0.0.1:%d", port);
}

static size_t dfx_curl_write(char *ptr, size_t size, size_t n, void *arg)
{
	struct sw_buf *b = arg;

	return sw_buf_append(b, ptr, size * n) < 0 ? 0 : size * n;
}

/* One request to the simulator (its control endpoints); the JSON answer
 * (new reference). */
static inline json_t *dfx_sim(struct dfx *f, const char *method, const char *path, const char *body)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct sw_buf out = {0};
	char url[512];
	CURL *c = curl_easy_init();
	json_t *j;

	snprintf(url, sizeof(url), "%s%s", f->sim_url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dfx_curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	j = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
	sw_buf_clear(&out);
	ck_assert_ptr_nonnull(j);
	return j;
}

/* Write the config (extra: more [daemon] lines; socket_group is empty
 * unless extra sets it) and build the daemon from
 * it, with the simulator started on scenario. */
static inline void dfx_open(struct dfx *f, const char *scenario, const char *extra)
{
	struct sw_register **regs = NULL;
	struct sw_diag diag = {0};
	struct sw_error err = {0};
	char secret[128], state[128], db[160];
	FILE *c;

	memset(f, 0, sizeof(*f));
	log_init(getenv("SW_TEST_DEBUG") != NULL);
	ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sw-daemon-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	dfx_sim_start(f, scenario);
	snprintf(secret, sizeof(secret), "%s/contoso.secret", f->dir);
	snprintf(state, sizeof(state), "%s/state", f->dir);
	snprintf(f->socket, sizeof(f->socket), "%s/control.sock", f->dir);
	snprintf(f->conf, sizeof(f->conf), "%s/smtpwatch.conf", f->dir);
	ck_assert_int_eq(mkdir(state, 0750), 0);
	c = fopen(secret, "w");
	ck_assert_ptr_nonnull(c);
	fputs("sim-secret-contoso\n", c);
	fclose(c);
	ck_assert_int_eq(chmod(secret, 0600), 0);
	c = fopen(f->conf, "w");
	ck_assert_ptr_nonnull(c);
	fprintf(c,
	        "[daemon]\nstate_dir = %s\nsocket = %s\n%sallow_root = yes\n%s\n"
	        "[tenant contoso]\ntenant_id = contoso.onmicrosoft.com\n"
	        "client_id = 11111111-1111-1111-1111-111111111111\nclient_secret_file = %s\n"
	        "login_url = %s\ngraph_url = %s\nexchange_url = %s\n"
	        "signins_interval = 1h\nsignins_lookback = 2h\ninitial_backfill = 1d\n\n"
	        "[sink soc]\ntype = webhook\nurl = %s/hooks/soc\nmin_severity = info\n",
	        state, f->socket, extra && strstr(extra, "socket_group") ? "" : "socket_group =\n", extra ? extra : "",
	        secret, f->sim_url, f->sim_url, f->sim_url, f->sim_url);
	fclose(c);

	f->d.config_path = f->conf;
	f->d.cfg = daemon_load_config(f->conf, NULL, &regs, &diag);
	for (size_t i = 0; i < diag.n; i++)
		fprintf(stderr, "%s:%d: %s\n", diag.items[i].source, diag.items[i].line, diag.items[i].text);
	sw_diag_clear(&diag);
	ck_assert_ptr_nonnull(f->d.cfg);
	snprintf(db, sizeof(db), "%s/smtpwatch.db", state);
	ck_assert_int_eq(sw_store_open(db, &f->d.store, &err), 0);
	f->d.started = daemon_now();
	f->d.base = event_base_new();
	ck_assert_ptr_nonnull(f->d.base);
	f->d.http = http_new(f->d.base);
	ck_assert_ptr_nonnull(f->d.http);
	ck_assert_int_eq(daemon_tenants_build(&f->d, regs), 0);
	f->d.deliver = deliver_new(&f->d);
	ck_assert_ptr_nonnull(f->d.deliver);
}

/* Tear the daemon down, stop the simulator, remove the directory. */
static inline void dfx_close(struct dfx *f)
{
	char cmd[128];
	int status;

	control_free(f->d.control);
	deliver_free(f->d.deliver);
	daemon_tenants_free(&f->d);
	http_free(f->d.http);
	event_base_free(f->d.base);
	sw_store_free(f->d.store);
	sw_config_free(f->d.cfg);
	kill(f->sim_pid, SIGTERM);
	waitpid(f->sim_pid, &status, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	ck_assert_int_eq(system(cmd), 0);
	curl_global_cleanup();
}

/* Run the loop until pred(arg) holds, checked every 5 ms, for at most
 * timeout_ms of loop time; whether it held. */
struct dfx_wait {
	bool (*pred)(void *arg);
	void *arg;
	struct event_base *base;
	bool held;
};

static void dfx_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dfx_wait *w = arg;

	if (w->pred(w->arg)) {
		w->held = true;
		event_base_loopbreak(w->base);
	}
}

static void dfx_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static inline bool dfx_run_until(struct dfx *f, bool (*pred)(void *arg), void *arg, int timeout_ms)
{
	struct dfx_wait w = {pred, arg, f->d.base, false};
	struct timeval tick = {0, 5000}, limit = {timeout_ms / 1000, timeout_ms % 1000 * 1000};
	struct event *check = event_new(f->d.base, -1, EV_PERSIST, dfx_wait_cb, &w);
	struct event *stop = evtimer_new(f->d.base, dfx_timeout_cb, f->d.base);

	if (pred(arg))
		w.held = true;
	if (!w.held) {
		event_add(check, &tick);
		event_add(stop, &limit);
		event_base_dispatch(f->d.base);
	}
	event_free(check);
	event_free(stop);
	return w.held;
}
