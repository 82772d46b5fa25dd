/* control.h: the UNIX control socket (JSON lines, SPEC "Control socket"). */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

struct daemon;
struct control;

/* Bind path (mode 0660, group socket_group if it exists), listen, accept on
 * the daemon's event base.  -errno with a reason in why. */
int control_new(struct daemon *d, const char *path, const char *group, struct control **ret, char *why, size_t n);
void control_free(struct control *c);
/* Remove a socket left by an earlier run at path: only a socket, and only
 * if nobody answers on it (a second daemon must not steal the first's).
 * 0 (also when there is none), or -errno with why (metrics_http.c too). */
int control_unlink_stale(const char *path, char *why, size_t n);

/* A reply built later, across loop turns, so that one request never
 * holds the loop (the report or the status of every tenant: a callback of
 * seconds, or of half a second, at MSP scale).  A command that answers
 * later sets *peer->later to its job and returns CONTROL_LATER; control.c
 * then runs job->step at the loop's lowest priority, as many steps a loop
 * turn as CONTROL_SLICE_US allows, until one answers, and sends that
 * reply.  Until then the client's further requests wait (replies keep
 * their order).  A job whose client is gone (it hung up, or the daemon
 * stops) is freed, at its next slice at the latest; at most
 * CONTROL_MAX_JOBS are built at once, and the next command that would
 * answer later is refused as busy.  A step must not keep pointers into
 * the daemon's tenants from one step to the next: a reload may replace
 * them in between. */
struct control_job {
	/* One step: 0 more to do; 1 done with *ret_data (new reference) the
	 * reply's data, or with *ret_data NULL when the data is in reply;
	 * -errno with the error text for the user in why. */
	int (*step)(struct control_job *job, json_t **ret_data, char *why, size_t n);
	void (*free)(struct control_job *job);
	const char *name; /* the command, for the log */
	/* The reply line being written piecewise, for data too large to make
	 * and encode in one step (a report of thousands of tenants): control.c
	 * puts SW_PROTO_OK_HEAD in before the first step, the steps append the
	 * data's compact JSON text, and control.c sends it a piece at a time
	 * as it grows (taking the buffer: a step finds it emptied), ends it,
	 * and frees it (job->free need not).  Once a piece is out a failed
	 * step can only cut the line short. */
	struct sw_buf reply;
};
#define CONTROL_LATER 1
/* Replies built later at once, over every client. */
#define CONTROL_MAX_JOBS 8

/* Who asked, for the log and for acks. */
struct control_peer {
	uid_t uid;
	pid_t pid;
	/* A descriptor that came with the request (SCM_RIGHTS), or -1: given
	 * to import-report only, and closed by control.c after the call. */
	int fd;
	/* Where a command that answers later puts its job (see above). */
	struct control_job **later;
};

/* The user name of uid (getpwuid_r) into buf: 0, or -ENOENT when it has
 * none. */
int control_user_name(uid_t uid, char *buf, size_t n);

/* A command that lives outside control.c: 0 and *ret_data (new
 * reference), or -errno with the error text for the user in why. */
typedef int (*control_cmd_fn)(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                              char *why, size_t n);

/* control_exo.c */
int control_cmd_exceptions(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                           char *why, size_t n);
int control_cmd_mailbox(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n);
/* control_audit.c */
int control_cmd_changes(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n);
/* The audit changes of one mailbox (by address and Identity), appended to
 * out, newest first for each name. */
int control_mailbox_changes(struct daemon *d, const char *tenant, const char *address, const char *identity,
                            json_t *out);
/* control_lifecycle.c */
int control_cmd_ack(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data, char *why,
                    size_t n);
int control_cmd_silence(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n);
int control_cmd_unsilence(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                          char *why, size_t n);
/* control_status.c */
int control_cmd_status(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                       char *why, size_t n);
/* control_report.c */
int control_cmd_import_report(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                              char *why, size_t n);
int control_cmd_report(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                       char *why, size_t n);
/* control_review.c: add to doc, one tenant's part of the report document,
 * what the reports people read show ("inventory", "chart", "verdict",
 * "exceptions", "alerts", "alerts_open", "changes", "silent"; smtpwatchctl(8)
 * lists the keys).  since: the period's first day; now: the clock; eff:
 * the tenant's layers as sw_effective_load() read them for the rest of
 * the report, or NULL when they could not be read.  0, or -errno with
 * why. */
struct tenant;
struct sw_effective_ctx;
int control_review_add(struct daemon *d, struct tenant *t, json_t *doc, int64_t since, int64_t now,
                       struct sw_effective_ctx *eff, char *why, size_t n);
/* control_remedy.c */
int control_cmd_remediate(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                          char *why, size_t n);
int control_cmd_remediation(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                            char *why, size_t n);
int control_cmd_plan(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data, char *why,
                     size_t n);
/* control_metrics.c */
int control_cmd_metrics(struct daemon *d, const struct control_peer *peer, json_t *req, json_t **ret_data,
                        char *why, size_t n);
