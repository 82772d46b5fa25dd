/* source_exo.c: the Exchange Online configuration source (admin API
 * InvokeCommand): the tenant switch (Get-TransportConfig), the default
 * authentication policy (Get-OrganizationConfig, Get-AuthenticationPolicy)
 * every mailbox's switch (Get-CASMailbox -ResultSize Unlimited) and every
 * user's assigned authentication policy (Get-User -ResultSize Unlimited,
 * paged and paced like Get-CASMailbox).
 *
 * A run is one snapshot, stamped with the run's start time.  Each page of
 * mailboxes commits in its own transaction, recording the changes since
 * the previous snapshot; only when the last page is in are the mailboxes
 * that did not appear marked removed and the watermark moved, so a run
 * that breaks halfway never reports a mailbox as gone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "capolicy.h"
#include "exo.h"
#include "log.h"
#include "poller.h"
#include "smtpwatchd.h"
#include "store_capolicy.h"
#include "store_exo.h"

enum exo_step {
	EXO_TRANSPORT,
	EXO_ORGANIZATION,
	EXO_POLICIES,
	EXO_MAILBOXES,
	EXO_USERS,
};

static const char *const exo_cmdlet_body[] = {
	[EXO_TRANSPORT] = "{\"CmdletInput\":{\"CmdletName\":\"Get-TransportConfig\",\"Parameters\":{}}}",
	[EXO_ORGANIZATION] = "{\"CmdletInput\":{\"CmdletName\":\"Get-OrganizationConfig\",\"Parameters\":{}}}",
	[EXO_POLICIES] = "{\"CmdletInput\":{\"CmdletName\":\"Get-AuthenticationPolicy\",\"Parameters\":{}}}",
	[EXO_MAILBOXES] = "{\"CmdletInput\":{\"CmdletName\":\"Get-CASMailbox\","
	                  "\"Parameters\":{\"ResultSize\":\"Unlimited\"}}}",
	[EXO_USERS] = "{\"CmdletInput\":{\"CmdletName\":\"Get-User\","
	              "\"Parameters\":{\"ResultSize\":\"Unlimited\"}}}",
};

static const char *const exo_cmdlet_name[] = {
	[EXO_TRANSPORT] = "Get-TransportConfig",
	[EXO_ORGANIZATION] = "Get-OrganizationConfig",
	[EXO_POLICIES] = "Get-AuthenticationPolicy",
	[EXO_MAILBOXES] = "Get-CASMailbox",
	[EXO_USERS] = "Get-User",
};

#define EXO_LOG_NOTES 5 /* warnings or skipped rows named per page */

struct exo_run {
	enum exo_step step;
	int64_t snapshot;
	bool first_snapshot; /* no earlier snapshot: do not report every mailbox as new */
	struct sw_tenant_state state;
	char *url;    /* InvokeCommand URL */
	char *anchor; /* X-AnchorMailbox header */
	int64_t mailboxes;
	bool mailbox_warnings; /* a Get-CASMailbox page came with warnings */
	json_t *auth_policies; /* Get-AuthenticationPolicy: [name, allows Basic] pairs */
	int64_t users;
	bool user_warnings;
};

static const char *exo_resource(const struct tenant *t)
{
	return t->cfg->exchange_url;
}

static int64_t exo_interval(const struct tenant *t)
{
	return t->cfg->config_interval;
}

/* Ask for the first page of the run's current cmdlet. */
static int exo_request_step(struct poller *p, struct exo_run *run)
{
	return poller_request(p, "POST", run->url, exo_cmdlet_body[run->step], run->anchor);
}

/* Start a snapshot with Get-TransportConfig. */
static int exo_begin(struct poller *p, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	const struct sw_tenant_config *tc = t->cfg;
	struct exo_run *run = calloc(1, sizeof(*run));
	struct sw_tenant_state prev;
	int r = -ENOMEM;

	if (run == NULL)
		goto out;
	poller_set_priv(p, run);
	run->auth_policies = json_array();
	if (run->auth_policies == NULL)
		goto out;
	run->snapshot = daemon_now();
	run->first_snapshot = sw_store_tenant_state_get(t->daemon->store, tc->name, &prev) < 0;
	const char *slash = tc->exchange_url[strlen(tc->exchange_url) - 1] == '/' ? "" : "/";
	if (asprintf(&run->url, "%s%sadminapi/beta/%s/InvokeCommand", tc->exchange_url, slash, tc->tenant_id) < 0)
		run->url = NULL;
	if (asprintf(&run->anchor, "X-AnchorMailbox: APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s",
	             tc->tenant_id) < 0)
		run->anchor = NULL;
	if (run->url == NULL || run->anchor == NULL)
		goto out;
	run->step = EXO_TRANSPORT;
	r = exo_request_step(p, run);
out:
	if (r < 0)
		snprintf(why, n, "cannot build the request: %s", strerror(-r));
	return r;
}

/* Store a page of Get-CASMailbox rows and the changes they show. */
static int exo_store_mailboxes(struct poller *p, struct exo_run *run, json_t *rows, bool last, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	struct sw_mailbox *items = calloc(json_array_size(rows) + 1, sizeof(*items));
	struct sw_checkpoint cp;
	size_t count = 0, changed = 0, removed = 0, skipped = 0, off = 0, i;
	char notes[EXO_LOG_NOTES * 16] = "";
	json_t *row;
	int r = -ENOMEM;

	if (items == NULL)
		goto out;
	json_array_foreach(rows, i, row) {
		r = sw_exo_mailbox_parse(row, &items[count]);
		if (r == -EINVAL) {
			/* A row without PrimarySmtpAddress names no mailbox. */
			if (skipped < EXO_LOG_NOTES) {
				int w = snprintf(notes + off, sizeof(notes) - off, "%s#%zu", skipped ? ", " : "", i);
				if (w > 0 && (size_t)w < sizeof(notes) - off)
					off += (size_t)w;
			}
			skipped++;
			continue;
		}
		if (r < 0)
			goto out;
		count++;
	}
	r = sw_store_begin(s);
	if (r < 0)
		goto out;
	r = sw_store_mailboxes_put(s, t->cfg->name, items, count, run->snapshot, !run->first_snapshot, &changed);
	if (r < 0)
		goto rollback;
	sw_store_checkpoint_get(s, t->cfg->name, "exchange", &cp);
	cp.last_attempt = daemon_now();
	/* An answer of warnings and no mailboxes at all is no evidence that
	 * every mailbox is gone: the snapshot completes without the sweep. */
	if (last && run->mailboxes + (int64_t)count == 0 && run->mailbox_warnings)
		log_warn("tenant %s: exchange: Get-CASMailbox returned no mailbox, only warnings: "
		         "keeping the mailboxes of the last snapshot", t->cfg->name);
	else if (last) {
		r = sw_store_mailboxes_sweep(s, t->cfg->name, run->snapshot, &removed);
		if (r < 0)
			goto rollback;
	}
	if (last) {
		cp.watermark = run->snapshot;
		cp.last_success = cp.last_attempt;
		cp.last_error[0] = '\0';
		cp.records = run->mailboxes + (int64_t)count;
	}
	r = sw_store_checkpoint_put(s, t->cfg->name, "exchange", &cp);
	if (r < 0)
		goto rollback;
	r = sw_store_commit(s);
	if (r < 0)
		goto rollback;
	run->mailboxes += (int64_t)count;
	poller_add_records(p, (int64_t)(changed + removed));
	if (skipped > 0) {
		log_warn("tenant %s: exchange: skipped %zu Get-CASMailbox row%s without PrimarySmtpAddress of %zu in a "
		         "page: %s%s", t->cfg->name, skipped, skipped == 1 ? "" : "s", json_array_size(rows), notes,
		         skipped > EXO_LOG_NOTES ? ", ..." : "");
		poller_add_skipped(p, (int64_t)skipped);
	}
	r = 0;
	goto out;
rollback:
	sw_store_rollback(s);
	snprintf(why, n, "cannot store %zu mailboxes: %s%s", count, sw_store_errmsg(s),
	         r == -ENOSPC ? " (the state directory is full)" : "");
out:
	for (size_t k = 0; items != NULL && k < count; k++)
		sw_mailbox_clear(&items[k]);
	free(items);
	if (r == -ENOMEM && why[0] == '\0')
		snprintf(why, n, "out of memory");
	return r;
}

/* Store a page of Get-User rows: each user's authentication policy. */
static int exo_store_users(struct poller *p, struct exo_run *run, json_t *rows, bool last, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	struct sw_checkpoint cp;
	size_t count = 0, skipped = 0, i;
	json_t *row;
	int r = sw_store_begin(s);

	json_array_foreach(rows, i, row) {
		struct sw_user_policy u;
		if (r < 0)
			break;
		r = sw_user_policy_parse(row, &u);
		if (r == -EINVAL || (r == 0 && u.address == NULL)) {
			skipped++;
			if (r == 0)
				sw_user_policy_clear(&u);
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		r = sw_store_user_policy_put(s, t->cfg->name, u.address, u.object_id, u.policy, run->snapshot);
		sw_user_policy_clear(&u);
		count++;
	}
	if (r >= 0 && last) {
		/* As with Get-CASMailbox: warnings and no user at all are no
		 * evidence that every assignment is gone. */
		if (run->users + (int64_t)count == 0 && run->user_warnings)
			log_warn("tenant %s: exchange: Get-User returned no user, only warnings: keeping the "
			         "authentication policy assignments of the last snapshot", t->cfg->name);
		else
			r = sw_store_user_policies_sweep(s, t->cfg->name, run->snapshot);
		if (r >= 0) {
			sw_store_checkpoint_get(s, t->cfg->name, SW_SOURCE_USERS, &cp);
			cp.watermark = run->snapshot;
			cp.last_attempt = cp.last_success = daemon_now();
			cp.records = run->users + (int64_t)count;
			cp.last_error[0] = '\0';
			r = sw_store_checkpoint_put(s, t->cfg->name, SW_SOURCE_USERS, &cp);
		}
	}
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store %zu Get-User rows: %s%s", count, sw_store_errmsg(s),
		         r == -ENOSPC ? " (the state directory is full)" : "");
		return r;
	}
	run->users += (int64_t)count;
	if (skipped > 0) {
		log_warn("tenant %s: exchange: skipped %zu Get-User row%s without UserPrincipalName of %zu in a page",
		         t->cfg->name, skipped, skipped == 1 ? "" : "s", json_array_size(rows));
		poller_add_skipped(p, (int64_t)skipped);
	}
	return 0;
}

/* Keep the tenant-wide answers of Get-TransportConfig, -OrganizationConfig
 * and -AuthenticationPolicy. */
static int exo_tenant_page(struct exo_run *run, json_t *rows, char *why, size_t n)
{
	json_t *row0 = json_array_get(rows, 0);

	switch (run->step) {
	case EXO_TRANSPORT:
		if (row0 == NULL) {
			snprintf(why, n, "Get-TransportConfig returned no row");
			return -EIO;
		}
		/* Only an explicit true turns SMTP AUTH off tenant-wide. */
		run->state.smtp_disabled = sw_exo_row_smtp_disabled(row0) == SW_TRI_TRUE;
		break;
	case EXO_ORGANIZATION: {
		const char *pol = json_string_value(json_object_get(row0, "DefaultAuthenticationPolicy"));
		snprintf(run->state.default_policy, sizeof(run->state.default_policy), "%s", pol ? pol : "");
		run->state.policy_allows_basic = true;
		break;
	}
	case EXO_POLICIES: {
		/* Policies may span pages: a page without the default keeps
		 * what an earlier one said. */
		bool allows;
		size_t i;
		json_t *row;
		if (sw_exo_policy_allows_basic(rows, run->state.default_policy, &allows) == 0)
			run->state.policy_allows_basic = allows;
		/* Every policy: a user's own assignment may name any of them. */
		json_array_foreach(rows, i, row) {
			const char *name = json_string_value(json_object_get(row, "Name"));
			if (name == NULL)
				name = json_string_value(json_object_get(row, "Identity"));
			if (name != NULL && *name != '\0')
				json_array_append_new(run->auth_policies,
				                      json_pack("[s,b]", name, sw_exo_bool(json_object_get(row,
				                                "AllowBasicAuthSmtp")) != SW_TRI_FALSE));
		}
		break;
	}
	case EXO_MAILBOXES:
	case EXO_USERS:
		break;
	}
	return 0;
}

/* Store the tenant row once the policies are all known. */
static int exo_store_tenant(struct poller *p, struct exo_run *run, char *why, size_t n)
{
	struct tenant *t = poller_tenant(p);
	struct sw_store *s = t->daemon->store;
	int r;

	size_t i;
	json_t *pair;

	run->state.observed = run->snapshot;
	r = sw_store_begin(s);
	if (r >= 0)
		r = sw_store_tenant_state_put(s, t->cfg->name, &run->state, run->snapshot);
	json_array_foreach(run->auth_policies, i, pair) {
		if (r < 0)
			break;
		r = sw_store_auth_policy_put(s, t->cfg->name, json_string_value(json_array_get(pair, 0)),
		                             json_is_true(json_array_get(pair, 1)), run->snapshot);
	}
	/* An answer without policies (warnings only) keeps the last ones. */
	if (r >= 0 && json_array_size(run->auth_policies) > 0)
		r = sw_store_auth_policies_sweep(s, t->cfg->name, run->snapshot);
	if (r >= 0)
		r = sw_store_commit(s);
	if (r < 0) {
		sw_store_rollback(s);
		snprintf(why, n, "cannot store the tenant configuration: %s", sw_store_errmsg(s));
	}
	return r;
}

/* Exchange's warnings of one answer, as info: the first few, each cut and
 * made printable, so a chatty or hostile answer cannot flood the log. */
static void exo_log_warnings(struct poller *p, struct exo_run *run, const json_t *warnings)
{
	size_t n = json_array_size(warnings), i;
	const json_t *w;

	if (n > 0 && run->step == EXO_MAILBOXES)
		run->mailbox_warnings = true;
	if (n > 0 && run->step == EXO_USERS)
		run->user_warnings = true;
	json_array_foreach(warnings, i, w) {
		char text[201];
		const char *v = json_string_value(w);
		size_t k = 0;

		if (i == EXO_LOG_NOTES) {
			log_info("tenant %s: exchange: %s: %zu more warnings", poller_tenant(p)->cfg->name,
			         exo_cmdlet_name[run->step], n - i);
			break;
		}
		for (; v != NULL && v[k] != '\0' && k + 1 < sizeof(text); k++)
			text[k] = (unsigned char)v[k] < 0x20 || v[k] == 0x7f ? ' ' : v[k];
		text[k] = '\0';
		log_info("tenant %s: exchange: %s: warning: %s%s", poller_tenant(p)->cfg->name,
		         exo_cmdlet_name[run->step], v ? text : "(not a string)",
		         v != NULL && v[k] != '\0' ? "..." : "");
	}
}

/* One InvokeCommand answer. */
static int exo_page(struct poller *p, const char *body, size_t len, enum poller_next *ret, char *why, size_t n)
{
	struct exo_run *run = poller_priv(p);
	struct sw_exo_page page = {0};
	struct sw_error err = {0};
	int r;

	why[0] = '\0';
	r = sw_exo_page_parse(body, len, &page, &err);
	if (r < 0) {
		snprintf(why, n, "malformed answer (%zu bytes): %s", len, err.text);
		return -EAGAIN;
	}
	exo_log_warnings(p, run, page.warnings);
	if (run->step == EXO_MAILBOXES) {
		r = exo_store_mailboxes(p, run, page.rows, page.next_link == NULL, why, n);
	} else if (run->step == EXO_USERS) {
		r = exo_store_users(p, run, page.rows, page.next_link == NULL, why, n);
	} else {
		r = exo_tenant_page(run, page.rows, why, n);
		if (r >= 0 && run->step == EXO_POLICIES && page.next_link == NULL)
			r = exo_store_tenant(p, run, why, n);
	}
	if (r < 0)
		goto out;
	if (page.next_link != NULL) {
		/* InvokeCommand pages: POST the same body to the next link. */
		r = poller_request(p, "POST", page.next_link, exo_cmdlet_body[run->step], run->anchor);
		*ret = POLLER_MORE;
	} else if (run->step != EXO_USERS) {
		run->step++;
		r = exo_request_step(p, run);
		*ret = POLLER_MORE;
	} else {
		*ret = POLLER_DONE;
	}
out:
	sw_exo_page_clear(&page);
	return r;
}

/* Free the run's state. */
static void exo_end(struct poller *p, bool ok)
{
	struct exo_run *run = poller_priv(p);

	if (run != NULL) {
		free(run->url);
		free(run->anchor);
		json_decref(run->auth_policies);
		free(run);
	}
	poller_set_priv(p, NULL);
}

const struct poller_ops exo_ops = {
	.name = "exchange",
	.permission_hint = "the app needs the Exchange.ManageAsApp application permission (admin consent) "
	                   "and an Exchange role such as Global Reader or View-Only Organization Management",
	.pace_requests = 10,
	.pace_window_ms = 10000,
	.resource = exo_resource,
	.interval = exo_interval,
	.begin = exo_begin,
	.page = exo_page,
	.end = exo_end,
};
