/* sink_journal.c: the local journal: the alert's fields as SMTPWATCH_*,
 * the rule's MESSAGE_ID and PRIORITY, through sd_journal_sendv(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "render.h"
#include "sink.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket" /* where sd_journal_sendv() writes */

/* sd_journal_sendv() reports success when no journald listens (it drops
 * the entry on purpose), so the socket is looked for first: without it
 * the alert stays queued. */
static int journal_send(struct sink *s, struct sink_attempt *a)
{
	struct iovec *iov = NULL;
	char **fields = NULL;
	size_t n = 0;
	json_t *doc;
	int r;

	if (access(JOURNAL_SOCKET, W_OK) < 0)
		return sink_fail(a, "journald is not running (" JOURNAL_SOCKET ")", errno);
	doc = sink_doc(a);
	if (doc == NULL)
		return SINK_FAILED;
	r = sw_render_journal(doc, &fields, &n);
	json_decref(doc);
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

const struct sink_ops sink_journal_ops = {
	.type = SW_SINK_JOURNAL,
	.send = journal_send,
};
