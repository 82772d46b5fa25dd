/* control_status.c: `status`, answered later (struct control_job).
 *
 * The reply holds every tenant's part, from the text each tenant keeps
 * (status.c); a text that is stale (its tenant ran since) is made again,
 * a few SQLite reads and a jansson tree each.  At 10,000 tenants the
 * first call after a start made all of them in one callback (449 ms), and
 * calls while thousands of first runs ended made hundreds (214 ms).  So
 * the reply is built a tenant a step, as many steps a loop turn as
 * control.c's slice allows: a stale text costs its step, a kept one a
 * copy.  The tenants are named at the start; one a reload removes
 * meanwhile is left out, one it adds comes in the next call.  Every text
 * is written in with the clock of the request (lag_s, the top failures'
 * window), as one callback did. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "smtpwatchd.h"
#include "status.h"

struct status_job {
	struct control_job job;
	struct daemon *d;
	int64_t now;
	char **names; /* the tenants at the request, in config order */
	size_t n_names, next, put;
	bool begun; /* the document's head is in (after control.c's) */
};

static void status_job_free(struct control_job *job)
{
	struct status_job *j = (struct status_job *)job;

	daemon_tenant_names_free(j->names, j->n_names);
	free(j);
}

/* One tenant's part, or, once every tenant is in, the rest of the
 * document. */
static int status_job_step(struct control_job *job, json_t **ret_data, char *why, size_t n)
{
	struct status_job *j = (struct status_job *)job;
	struct sw_buf *out = &job->reply;
	int r;

	if (!j->begun) {
		/* No room reserved for the whole reply (30 MB at 10,000
		 * tenants): control.c sends it a piece at a time. */
		j->begun = true;
		r = sw_buf_append(out, "{\"tenants\":{", 12);
	} else if (j->next < j->n_names) {
		struct tenant *t = daemon_tenant_at(j->d, j->next, j->names[j->next]);
		j->next++;
		if (t == NULL)
			return 0; /* removed by a reload since the request */
		r = j->put++ > 0 ? sw_buf_putc(out, ',') : 0;
		r = r < 0 ? r : status_tenant_dump(t, j->now, out);
	} else {
		r = sw_buf_append(out, "},", 2);
		r = r < 0 ? r : daemon_status_rest(j->d, j->now, out);
		if (r >= 0)
			return 1;
	}
	if (r < 0) {
		snprintf(why, n, "out of memory");
		return r;
	}
	return 0;
}

/* status: the daemon's document (SPEC "Control socket"), a tenant a step
 * across loop turns (status_job). */
int control_cmd_status(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data, char *why,
                       size_t n)
{
	struct status_job *j;

	if (peer->later == NULL) {
		snprintf(why, n, "status answers on the control socket only");
		return -ENOTSUP;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->names = daemon_tenant_names(d, NULL, &j->n_names)) == NULL) {
		free(j);
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	j->job.step = status_job_step;
	j->job.free = status_job_free;
	j->job.name = "status";
	j->d = d;
	j->now = daemon_now();
	*peer->later = &j->job;
	return CONTROL_LATER;
}
