/* sink_journal.c: the local journal: the alert's fields as SMTPWATCH_*,
 * the rule's MESSAGE_ID and PRIORITY, through sd_journal_sendv(); a digest
 * as one entry plus one for each of its first 20 alerts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "digest.h"
#include "render.h"
#include "sink.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket" /* where sd_journal_sendv() writes */
#define SW_JOURNAL_DIGEST_ALERTS 20                  /* alerts of a digest written after its line */

/* Write one document's fields as one journal entry. */
static int journal_write(struct sink_attempt *a, const json_t *doc)
{
	struct iovec *iov = NULL;
	char **fields = NULL;
	size_t n = 0;
	int r;

	r = sw_render_journal(doc, &fields, &n);
	if (r < 0) {
		a->permanent = r == -EINVAL;
		return sink_fail(a, "cannot render the journal fields", -r);
	}
	iov = calloc(n, sizeof(*iov));
	if (iov == NULL) {
		sw_render_journal_free(fields, n);
		return sink_fail(a, "journal", ENOMEM);
	}
	for (size_t i = 0; i < n; i++) {
		iov[i].iov_base = fields[i];
		iov[i].iov_len = strlen(fields[i]);
	}
	r = sd_journal_sendv(iov, (int)n);
	free(iov);
	sw_render_journal_free(fields, n);
	if (r < 0)
		return sink_fail(a, "sd_journal_sendv", -r);
	return SINK_OK;
}

/* A digest: one entry for it (its fields but the alerts, status
 * "digest"), then one for each of the first SW_JOURNAL_DIGEST_ALERTS. */
static int journal_digest(struct sink_attempt *a, const json_t *doc)
{
	const json_t *alerts = json_object_get(doc, "alerts"), *item;
	json_t *head = json_copy((json_t *)doc);
	size_t i;
	int r;

	if (head == NULL)
		return sink_fail(a, "journal", ENOMEM);
	json_object_del(head, "alerts");
	json_object_set_new(head, "status", json_string("digest"));
	r = journal_write(a, head);
	json_decref(head);
	json_array_foreach(alerts, i, item) {
		if (r != SINK_OK || i == SW_JOURNAL_DIGEST_ALERTS)
			break;
		r = journal_write(a, item);
	}
	return r;
}

/* sd_journal_sendv() reports success when no journald listens (it drops
 * the entry on purpose), so the socket is looked for first: without it
 * the alert stays queued. */
static int journal_send(struct sink *s, struct sink_attempt *a)
{
	json_t *doc;
	int r;

	if (access(JOURNAL_SOCKET, W_OK) < 0)
		return sink_fail(a, "journald is not running (" JOURNAL_SOCKET ")", errno);
	doc = sink_doc(a);
	if (doc == NULL)
		return SINK_FAILED;
	r = sw_digest_is(doc) ? journal_digest(a, doc) : journal_write(a, doc);
	json_decref(doc);
	return r;
}

const struct sink_ops sink_journal_ops = {
	.digests = true,
	.type = SW_SINK_JOURNAL,
	.send = journal_send,
};
