/* walckpt.h: the store's WAL checkpoints on a thread of their own. */
#pragma once

struct sw_store;
struct walckpt;

/* Start the thread, with its own connection to the database at path, and
 * hand the checkpoints of s to it (sw_store_wal_offload).  -errno, with
 * why; s then checkpoints in its commits as before. */
int walckpt_start(struct sw_store *s, const char *path, struct walckpt **ret, char *why, size_t n);
/* Stop and join the thread (the checkpoint it is in finishes first) and
 * give the checkpoints back to s's commits.  NULL is fine. */
void walckpt_stop(struct walckpt *w, struct sw_store *s);
