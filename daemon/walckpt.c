/* walckpt.c: the store's WAL checkpoints on a thread of their own.
 *
 * SQLite checkpoints in the commit that takes the WAL past 1,000 pages:
 * it copies them into the database file and syncs it, which on a busy
 * disk held the event loop for 70 ms and more (bench/README.md).  Here the
 * commit only signals (sw_store_wal_offload's ready, under a mutex) and
 * this thread, with its own SQLite connection, runs a PASSIVE checkpoint:
 * it never waits for the loop's writes or reads, nor they for it.  The
 * thread touches nothing of the daemon but its own struct; it logs
 * nothing (log.c is the loop's) and a failed checkpoint is simply tried
 * again at the next signal. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "walckpt.h"

struct walckpt {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool due, stop;
	struct sw_store_checkpointer *c;
};

/* From the loop's commit: the WAL is long enough. */
static void walckpt_ready(void *arg)
{
	struct walckpt *w = arg;

	pthread_mutex_lock(&w->lock);
	if (!w->due) {
		w->due = true;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
}

static void *walckpt_main(void *arg)
{
	struct walckpt *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->due && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		w->due = false;
		pthread_mutex_unlock(&w->lock);
		sw_store_checkpointer_run(w->c, NULL, NULL);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Tell the thread to stop and wait for it. */
static void walckpt_join(struct walckpt *w)
{
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
}

/* See walckpt.h. */
int walckpt_start(struct sw_store *s, const char *path, struct walckpt **ret, char *why, size_t n)
{
	struct walckpt *w = calloc(1, sizeof(*w));
	struct sw_error err = {0};
	int r;

	*ret = NULL;
	if (w == NULL) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	r = sw_store_checkpointer_open(path, &w->c, &err);
	if (r < 0) {
		snprintf(why, n, "%s", err.text);
		free(w);
		return r;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	/* Signals are the loop's (libevent's evsignal): none for this thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&w->thread, NULL, walckpt_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		snprintf(why, n, "cannot start a thread: %s", strerror(-r));
		goto fail;
	}
	r = sw_store_wal_offload(s, walckpt_ready, w);
	if (r < 0) {
		snprintf(why, n, "%s", strerror(-r));
		walckpt_join(w);
		goto fail;
	}
	*ret = w;
	return 0;
fail:
	sw_store_checkpointer_free(w->c);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
	return r;
}

/* See walckpt.h. */
void walckpt_stop(struct walckpt *w, struct sw_store *s)
{
	if (w == NULL)
		return;
	sw_store_wal_offload(s, NULL, NULL);
	walckpt_join(w);
	sw_store_checkpointer_free(w->c);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
