/* source_report.c: the SMTP AUTH clients report source: every new *.csv
 * dropped in a tenant's report_spool is imported once, then moved to
 * processed/ (with NAME.error listing rejected lines, if any) or, when the
 * whole file is refused, to rejected/ with NAME.error saying why.
 *
 * Timing rules:
 * - inotify (close-after-write, moved-in) triggers a scan 200 ms later;
 *   a scan also runs every minute, for file systems without inotify.
 *   A file modified less than 2 s ago is left for the next scan: a copy
 *   in progress is not a report yet (inotify's close-after-write makes the
 *   next scan come soon).
 * - Nothing blocks the loop: a file is read and parsed in 256 KiB slices
 *   and stored in transactions of 2000 rows, one step per loop turn.  The
 *   file record (content hash) commits with the last rows, so a crash in
 *   between leaves the file in the spool and the next start imports it
 *   again; rows already stored are then simply unchanged (observations
 *   keep the larger count).
 * - A store failure (busy, disk full) keeps the file in place and retries
 *   after 30 s.
 * - A file that cannot be moved out (processed/ unusable, a read-only
 *   mount) is stuck: it stays in the spool, is logged once, and its move
 *   (with its .error) is tried again at most every 60 s, by the rescan;
 *   new files are still taken meanwhile.  The stuck set has no size limit:
 *   a full one used to send the scan round in a busy loop.
 *
 * Safety rules: the spool's group (the writers it exists for) is not
 * trusted.  Everything in the spool is reached through directory
 * descriptors (openat, renameat, O_NOFOLLOW, O_EXCL), never by path, and
 * each directory (the spool, processed/, rejected/) is fstat'ed as opened:
 * a directory, owned by the daemon's user, not writable by others.  So a
 * member who swaps rejected/ for her own directory, or drops a symlink, a
 * FIFO or a hard link, gets a refusal in the log, never a write through it
 * into the database or anything else the daemon may write.  The spool is
 * made 3770 (setgid, sticky: members drop files but cannot remove or
 * replace the daemon's or each other's), processed/ and rejected/ 2750
 * (members read the .error files, write nothing). */
#include "source_report.h"
#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonutil.h"
#include "log.h"
#include "smtpwatchd.h"

#define SPOOL_SLICE (256 * 1024)
#define SPOOL_BATCH 2000
#define SPOOL_SETTLE_S 2
#define SPOOL_RESCAN_S 60
#define SPOOL_RETRY_S 30
#define SPOOL_DEBOUNCE_MS 200
#define SPOOL_STUCK_RETRY_S 60
#define SPOOL_MODE 03770
#define SPOOL_SUB_MODE 02750
#define SPOOL_ERROR_MODE 0640

/* A file that could not be moved out of the spool. */
struct spool_stuck {
	char *name;
	const char *sub;   /* where it goes: "processed" or "rejected" */
	char *error;       /* the text of its NAME.error, NULL for none */
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime;     /* the file as it was: once changed it is a new file */
	int64_t next_try;
	unsigned seen;     /* the last scan that saw it */
};

enum spool_step {
	SPOOL_IDLE,  /* waiting for the next scan */
	SPOOL_READ,  /* reading and parsing the file in hand */
	SPOOL_STORE, /* storing its rows */
};

struct report_spool {
	struct tenant *t;
	char *dir;
	int dfd;                 /* the spool, opened by the scan; -1 when idle */
	char refused[512];       /* the last spool problem logged (logged once) */
	int ifd;                 /* inotify, -1 without */
	struct event *inotify_ev;
	struct event *timer;     /* the one step timer */
	enum spool_step step;
	bool once_done;

	/* The file in hand. */
	char *name;
	int fd;
	int64_t mtime;
	struct sw_report_parser *parser;
	size_t stored;           /* rows stored so far */
	size_t changed;

	/* Files that could not be moved out, sorted by name. */
	struct spool_stuck *stuck;
	size_t n_stuck, cap_stuck;
	unsigned scan_gen;

	/* For status. */
	int64_t pending;
	int64_t imported, duplicates, rejected;
	char current[256];
	char last_error[512];
};

/* Arm the step timer in ms. */
static void spool_arm_ms(struct report_spool *sp, int64_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(sp->timer, &tv);
}

/* Forget the file in hand. */
static void spool_file_clear(struct report_spool *sp)
{
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	sw_report_parser_free(sp->parser);
	sp->parser = NULL;
	free(sp->name);
	sp->name = NULL;
	sp->stored = sp->changed = 0;
	sp->current[0] = '\0';
	sp->step = SPOOL_IDLE;
	if (sp->dfd >= 0)
		close(sp->dfd);
	sp->dfd = -1;
}

/* Is the directory open on fd one the daemon may write into: a directory,
 * owned by the daemon's user, not writable by others?  0, or -errno and
 * why in ret.  (A directory of someone else's may hold a symlink named
 * like a file the daemon writes next.) */
static int spool_dir_check(int fd, char *ret, size_t n)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int r = -errno;
		snprintf(ret, n, "cannot stat it: %s", strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(ret, n, "not a directory");
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		snprintf(ret, n, "owned by uid %u, not by the daemon's uid %u: refused", (unsigned)st.st_uid,
		         (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(ret, n, "writable by others (mode %04o): refused", (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* Open the directory at/name without following a symlink, and check it
 * (spool_dir_check).  The descriptor, or -errno and why in ret. */
static int spool_dir_open(int at, const char *name, char *ret, size_t n)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			snprintf(ret, n, "a symbolic link: refused");
		else if (r == -ENOTDIR)
			snprintf(ret, n, "not a directory");
		else
			snprintf(ret, n, "%s", strerror(-r));
		return r;
	}
	r = spool_dir_check(fd, ret, n);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* Write the outcome of an attempt to the "report" checkpoint. */
static void spool_note(struct report_spool *sp, const char *error)
{
	struct sw_store *s = sp->t->daemon->store;
	struct sw_checkpoint cp;

	if (sw_store_begin(s) < 0)
		return;
	sw_store_checkpoint_get(s, sp->t->cfg->name, "report", &cp);
	cp.last_attempt = daemon_now();
	snprintf(cp.last_error, sizeof(cp.last_error), "%.*s", (int)sizeof(cp.last_error) - 1, error ? error : "");
	if (sw_store_checkpoint_put(s, sp->t->cfg->name, "report", &cp) < 0 || sw_store_commit(s) < 0)
		sw_store_rollback(s);
}

/* Move name from the spool into sub/ (processed or rejected), never over
 * an existing file: name, then name.1, name.2 ...  The final name in ret
 * and sub/ open in *ret_fd; -errno and why otherwise. */
static int spool_move(struct report_spool *sp, const char *name, const char *sub, char *ret, size_t n, int *ret_fd,
                      char *why, size_t nwhy)
{
	char what[300];
	int sfd, r = -EEXIST;

	sfd = spool_dir_open(sp->dfd, sub, what, sizeof(what));
	if (sfd < 0) {
		snprintf(why, nwhy, "%s/%s: %s", sp->dir, sub, what);
		return sfd;
	}
	for (int i = 0; i < 1000 && r == -EEXIST; i++) {
		if (i == 0)
			snprintf(ret, n, "%s", name);
		else
			snprintf(ret, n, "%s.%d", name, i);
		if (renameat2(sp->dfd, name, sfd, ret, RENAME_NOREPLACE) == 0) {
			*ret_fd = sfd;
			return 0;
		}
		r = -errno;
		if (r == -EINVAL || r == -ENOSYS) { /* no RENAME_NOREPLACE here */
			struct stat st;
			if (fstatat(sfd, ret, &st, AT_SYMLINK_NOFOLLOW) == 0) {
				r = -EEXIST;
				continue;
			}
			r = renameat(sp->dfd, name, sfd, ret) == 0 ? 0 : -errno;
			if (r == 0) {
				*ret_fd = sfd;
				return 0;
			}
		}
	}
	snprintf(why, nwhy, "%s/%s: %s", sp->dir, sub, strerror(-r));
	close(sfd);
	return r;
}

/* Where name is, or would be, in the stuck set; true when there. */
static bool stuck_find(const struct report_spool *sp, const char *name, size_t *ret)
{
	size_t lo = 0, hi = sp->n_stuck;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(sp->stuck[mid].name, name);
		if (c == 0) {
			*ret = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret = lo;
	return false;
}

static void stuck_remove(struct report_spool *sp, size_t i)
{
	free(sp->stuck[i].name);
	free(sp->stuck[i].error);
	memmove(&sp->stuck[i], &sp->stuck[i + 1], (sp->n_stuck - i - 1) * sizeof(sp->stuck[0]));
	sp->n_stuck--;
}

/* The file in hand stays in the spool: remember it (taking error), so
 * that scans skip it until its next try. */
static void stuck_add(struct report_spool *sp, const char *sub, char *error)
{
	struct spool_stuck k = {.sub = sub, .error = error, .next_try = daemon_now() + SPOOL_STUCK_RETRY_S,
	                        .seen = sp->scan_gen};
	struct stat st;
	size_t i;

	if (stuck_find(sp, sp->name, &i))
		stuck_remove(sp, i);
	if (fstatat(sp->dfd, sp->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		k.dev = st.st_dev;
		k.ino = st.st_ino;
		k.size = st.st_size;
		k.mtime = (int64_t)st.st_mtime;
	}
	if (sp->n_stuck == sp->cap_stuck) {
		size_t cap = sp->cap_stuck ? 2 * sp->cap_stuck : 16;
		struct spool_stuck *n = realloc(sp->stuck, cap * sizeof(*n));
		if (n == NULL)
			goto fail;
		sp->stuck = n;
		sp->cap_stuck = cap;
	}
	k.name = strdup(sp->name);
	if (k.name == NULL)
		goto fail;
	memmove(&sp->stuck[i + 1], &sp->stuck[i], (sp->n_stuck - i) * sizeof(sp->stuck[0]));
	sp->stuck[i] = k;
	sp->n_stuck++;
	return;
fail:
	/* Out of memory: the file is taken again by the next scans, which
	 * the rescan interval paces. */
	free(error);
}

/* Is the stuck entry still the file in the spool (st)? */
static bool stuck_same(const struct spool_stuck *k, const struct stat *st)
{
	return k->dev == st->st_dev && k->ino == st->st_ino && k->size == st->st_size &&
	       k->mtime == (int64_t)st->st_mtime;
}

/* The text of a NAME.error: the headline, then each problem as
 * FILE:LINE: text.  NULL when out of memory. */
static char *spool_error_text(const char *headline, const struct sw_report *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "%s\n", headline);
	for (size_t i = 0; r != NULL && i < r->n_problems; i++)
		fprintf(f, "%s:%d: %s%s\n", r->problems[i].source, r->problems[i].line,
		        r->problems[i].warning ? "warning: " : "", r->problems[i].text);
	if (r != NULL && r->n_rejected + r->n_warnings > r->n_problems)
		fprintf(f, "(%zu more not listed)\n", r->n_rejected + r->n_warnings - r->n_problems);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Write sub/NAME.error (sub open on sfd): the reason, then each problem
 * as FILE:LINE: text.  Written beside it (created O_EXCL, never through a
 * link) and renamed, so that a reader (or a script waiting for the file)
 * never sees it half written.  Mode 0640: the spool's group reads it. */
static void spool_write_error(struct report_spool *sp, int sfd, const char *sub, const char *name,
                              const char *text)
{
	char epath[320], tmp[330];
	FILE *f = NULL;
	int fd = -1;

	snprintf(epath, sizeof(epath), "%s.error", name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", epath);
	for (int i = 0; fd < 0 && i < 2; i++) {
		fd = openat(sfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, SPOOL_ERROR_MODE);
		if (fd < 0 && errno == EEXIST && i == 0)
			unlinkat(sfd, tmp, 0); /* left by a crash: the directory is ours */
	}
	if (fd < 0 || fchmod(fd, SPOOL_ERROR_MODE) < 0 || (f = fdopen(fd, "w")) == NULL) {
		int err = errno;
		log_warn("tenant %s: report: cannot write %s/%s/%s: %s", sp->t->cfg->name, sp->dir, sub, epath,
		         strerror(err));
		if (fd >= 0) {
			close(fd);
			unlinkat(sfd, tmp, 0);
		}
		return;
	}
	fputs(text, f);
	if (fclose(f) != 0 || renameat(sfd, tmp, sfd, epath) != 0) {
		log_warn("tenant %s: report: cannot write %s/%s/%s: %s", sp->t->cfg->name, sp->dir, sub, epath,
		         strerror(errno));
		unlinkat(sfd, tmp, 0);
	}
}

/* Move name into sub/ with its .error (text, may be NULL); -errno and why. */
static int spool_place(struct report_spool *sp, const char *name, const char *sub, const char *text, char *why,
                       size_t n)
{
	char dst[300];
	int sfd = -1, r;

	r = spool_move(sp, name, sub, dst, sizeof(dst), &sfd, why, n);
	if (r < 0)
		return r;
	if (text != NULL)
		spool_write_error(sp, sfd, sub, dst, text);
	close(sfd);
	return 0;
}

static void spool_scan(struct report_spool *sp);

/* The file in hand is refused whole: rejected/NAME and NAME.error. */
static void spool_reject(struct report_spool *sp, const struct sw_error *e)
{
	char why[600], mwhy[600];
	const struct sw_report *r = sp->parser ? sw_report_parser_result(sp->parser) : NULL;
	char *text;

	snprintf(why, sizeof(why), "%s:%d: %s", sp->name, e->line, e->text);
	text = spool_error_text(why, r);
	if (spool_place(sp, sp->name, "rejected", text, mwhy, sizeof(mwhy)) == 0) {
		log_warn("tenant %s: report: %s rejected, nothing stored: %s", sp->t->cfg->name, sp->name, why);
		free(text);
	} else {
		log_err("tenant %s: report: %s rejected (%s) but cannot be moved: %s; it stays in the spool, tried "
		        "again every %ds", sp->t->cfg->name, sp->name, why, mwhy, SPOOL_STUCK_RETRY_S);
		stuck_add(sp, "rejected", text);
	}
	sp->rejected++;
	snprintf(sp->last_error, sizeof(sp->last_error), "%s rejected: %s", sp->name, e->text);
	spool_note(sp, sp->last_error);
	spool_file_clear(sp);
}

/* The file is stored (or was already): processed/NAME, NAME.error for
 * rejected lines, detection. */
static void spool_done(struct report_spool *sp, const struct report_outcome *o)
{
	struct sw_report *r = sw_report_parser_result(sp->parser);
	char head[600], mwhy[600], first[32] = "", last[32] = "";
	char *text = NULL;

	if (o->file.first_day > 0) {
		sw_time_format(o->file.first_day, first, sizeof(first));
		sw_time_format(o->file.last_day, last, sizeof(last));
	}
	if (!o->duplicate && r->n_problems > 0) {
		snprintf(head, sizeof(head), "%s: imported %zu rows; %zu line%s rejected, %zu warning%s:", sp->name, r->n,
		         r->n_rejected, r->n_rejected == 1 ? "" : "s", r->n_warnings, r->n_warnings == 1 ? "" : "s");
		text = spool_error_text(head, r);
	}
	if (spool_place(sp, sp->name, "processed", text, mwhy, sizeof(mwhy)) < 0) {
		log_err("tenant %s: report: %s imported but cannot be moved: %s; it stays in the spool, tried again "
		        "every %ds (importing it again would add nothing)", sp->t->cfg->name, sp->name, mwhy,
		        SPOOL_STUCK_RETRY_S);
		stuck_add(sp, "processed", text);
	} else {
		free(text);
	}
	if (o->duplicate) {
		sp->duplicates++;
		log_info("tenant %s: report: %s has the same content as %s, imported before: nothing added",
		         sp->t->cfg->name, sp->name, o->file.name);
	} else {
		sp->imported++;
		log_info("tenant %s: report: %s imported: %zu rows (%.10s to %.10s), %zu observations new or grown, "
		         "%zu line%s rejected", sp->t->cfg->name, sp->name, r->n, first, last, o->changed,
		         r->n_rejected, r->n_rejected == 1 ? "" : "s");
	}
	sp->last_error[0] = '\0';
	spool_file_clear(sp);
	if (!sp->t->daemon->once && !o->duplicate)
		daemon_source_done(sp->t->daemon, sp->t, "report", true);
}

/* Store the next batch of rows; the last batch records the file. */
static void spool_store_step(struct report_spool *sp)
{
	struct tenant *t = sp->t;
	struct sw_store *s = t->daemon->store;
	struct sw_report *r = sw_report_parser_result(sp->parser);
	struct report_outcome o = {0};
	char why[512] = "";
	int rc;

	if (sp->stored == 0) {
		rc = sw_store_report_file_find(s, t->cfg->name, r->sha256, &o.file);
		if (rc == 0) {
			o.duplicate = true;
			spool_done(sp, &o);
			spool_arm_ms(sp, 0);
			return;
		}
	}
	size_t to = sp->stored + SPOOL_BATCH;
	if (to >= r->n) {
		/* The last batch: rows, file record and checkpoint together. */
		struct sw_report part = *r;
		part.rows = r->rows + sp->stored;
		part.n = r->n - sp->stored;
		rc = report_import_parsed(t, sp->name, &part, daemon_now(), &o, why, sizeof(why));
		if (rc >= 0) {
			o.changed += sp->changed;
			spool_done(sp, &o);
			spool_arm_ms(sp, 0);
			return;
		}
	} else {
		size_t changed = 0;
		struct sw_checkpoint cp;
		rc = sw_store_begin(s);
		if (rc >= 0)
			rc = sw_store_report_rows_add(s, t->cfg->name, 0, r->rows + sp->stored, to - sp->stored,
			                              daemon_now(), &changed);
		/* The checkpoint counts these rows now: the last batch's
		 * report_import_parsed counts only its own. */
		if (rc >= 0 && ((rc = sw_store_checkpoint_get(s, t->cfg->name, "report", &cp)) >= 0 || rc == -ENOENT)) {
			cp.records += (int64_t)changed;
			rc = sw_store_checkpoint_put(s, t->cfg->name, "report", &cp);
		}
		if (rc >= 0)
			rc = sw_store_commit(s);
		if (rc >= 0) {
			sp->stored = to;
			sp->changed += changed;
			spool_arm_ms(sp, 0);
			return;
		}
		sw_store_rollback(s);
		snprintf(why, sizeof(why), "cannot store rows: %s", sw_store_errmsg(s));
	}
	log_warn("tenant %s: report: %s: %s, retrying in %ds", t->cfg->name, sp->name, why, SPOOL_RETRY_S);
	snprintf(sp->last_error, sizeof(sp->last_error), "%s: %s", sp->name, why);
	spool_note(sp, sp->last_error);
	spool_file_clear(sp);
	spool_arm_ms(sp, SPOOL_RETRY_S * 1000);
}

/* Read and parse the next slice of the file in hand. */
static void spool_read_step(struct report_spool *sp)
{
	char *buf = malloc(SPOOL_SLICE);
	struct sw_error err = {0};
	ssize_t got;
	int rc;

	if (buf == NULL) {
		spool_arm_ms(sp, 1000);
		return;
	}
	do {
		got = read(sp->fd, buf, SPOOL_SLICE);
	} while (got < 0 && errno == EINTR);
	if (got < 0) {
		snprintf(err.text, sizeof(err.text), "cannot read: %s", strerror(errno));
		rc = -EIO;
	} else if (got > 0) {
		rc = sw_report_parser_feed(sp->parser, buf, (size_t)got, &err);
	} else {
		rc = sw_report_parser_finish(sp->parser, &err);
	}
	free(buf);
	if (rc == -ENOMEM) {
		spool_arm_ms(sp, 1000);
		return;
	}
	if (rc < 0) {
		spool_reject(sp, &err);
		spool_arm_ms(sp, 0);
		return;
	}
	if (got == 0) {
		close(sp->fd);
		sp->fd = -1;
		sp->step = SPOOL_STORE;
	}
	spool_arm_ms(sp, 0);
}

/* Is name a report to take: "*.csv" (any case), not hidden. */
static bool spool_candidate(const char *name)
{
	size_t len = strlen(name);

	return name[0] != '.' && len > 4 && strcasecmp(name + len - 4, ".csv") == 0;
}

/* What a non-regular file is, for the refusal. */
static const char *spool_kind(mode_t m)
{
	return S_ISLNK(m) ? "a symbolic link" : S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" :
	       S_ISSOCK(m) ? "a socket" : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a regular file";
}

/* Open the file to import next; false to look for another.  Only a
 * regular file with one link is read: a symlink or a hard link could make
 * the daemon read (and quote in the .error file) what its writer cannot,
 * a FIFO would block.  Such a file is refused like a broken one. */
static bool spool_open(struct report_spool *sp, const char *name, int64_t mtime)
{
	struct stat st;
	struct sw_error e = {0};

	sp->name = strdup(name);
	if (sp->name == NULL)
		return false;
	snprintf(sp->current, sizeof(sp->current), "%s", name);
	if (fstatat(sp->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(e.text, sizeof(e.text), "refused: %s, not a regular file (copy the export itself into "
		         "the spool)", spool_kind(st.st_mode));
		spool_reject(sp, &e);
		return false;
	}
	sp->fd = openat(sp->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (sp->fd < 0 && errno == ENOENT) { /* taken back since the scan */
		spool_file_clear(sp);
		return false;
	}
	if (sp->fd < 0 || fstat(sp->fd, &st) < 0) {
		snprintf(e.text, sizeof(e.text), "cannot open it: %s",
		         errno == ELOOP ? "a symbolic link: refused" : strerror(errno));
		spool_reject(sp, &e);
		return false;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		if (!S_ISREG(st.st_mode))
			snprintf(e.text, sizeof(e.text), "refused: %s, not a regular file", spool_kind(st.st_mode));
		else
			snprintf(e.text, sizeof(e.text), "refused: %ju hard links (copy the export into the spool, "
			         "do not link it)", (uintmax_t)st.st_nlink);
		spool_reject(sp, &e);
		return false;
	}
	if (st.st_size > REPORT_MAX_FILE) {
		snprintf(e.text, sizeof(e.text), "%lld bytes, larger than the %d MiB limit: export a shorter period",
		         (long long)st.st_size, REPORT_MAX_FILE >> 20);
		spool_reject(sp, &e);
		return false;
	}
	sp->mtime = mtime;
	if (sw_report_parser_new(name, mtime, &sp->parser) < 0) {
		spool_file_clear(sp);
		return false;
	}
	sp->step = SPOOL_READ;
	log_debug("tenant %s: report: importing %s (%lld bytes)", sp->t->cfg->name, name, (long long)st.st_size);
	return true;
}

/* The spool cannot be used: say so once (until it changes), retry later. */
static void spool_refused(struct report_spool *sp, const char *what)
{
	snprintf(sp->last_error, sizeof(sp->last_error), "the spool %s: %s", sp->dir, what);
	if (strcmp(sp->refused, sp->last_error) != 0) {
		log_warn("tenant %s: report: %s; retrying every %ds", sp->t->cfg->name, sp->last_error,
		         SPOOL_RESCAN_S);
		snprintf(sp->refused, sizeof(sp->refused), "%s", sp->last_error);
		spool_note(sp, sp->last_error);
	}
}

/* Try again the stuck files whose time has come, and forget those the
 * scan did not see (gone from the spool).  Logged once: when it works. */
static void spool_retry_stuck(struct report_spool *sp, int64_t now)
{
	bool dir_bad[2] = {false, false};
	char why[600];

	for (size_t i = 0; i < sp->n_stuck;) {
		struct spool_stuck *k = &sp->stuck[i];
		bool rej = strcmp(k->sub, "rejected") == 0;
		if (k->seen != sp->scan_gen) {
			stuck_remove(sp, i);
			continue;
		}
		if (now < k->next_try) {
			i++;
			continue;
		}
		/* One failure to open processed/ speaks for all that go there. */
		if (!dir_bad[rej]) {
			int r = spool_place(sp, k->name, k->sub, k->error, why, sizeof(why));
			if (r == 0) {
				log_info("tenant %s: report: %s moved to %s/ at last", sp->t->cfg->name, k->name, k->sub);
				stuck_remove(sp, i);
				continue;
			}
			log_debug("tenant %s: report: %s still cannot be moved: %s", sp->t->cfg->name, k->name, why);
			if (r != -EEXIST && r != -ENAMETOOLONG)
				dir_bad[rej] = true;
		}
		k->next_try = now + SPOOL_STUCK_RETRY_S;
		i++;
	}
}

/* Look for the next file: the oldest name first (exports are usually
 * named by date).  Nothing left: wait for inotify or the rescan. */
static void spool_scan(struct report_spool *sp)
{
	struct daemon *d = sp->t->daemon;
	int64_t now = daemon_now();
	bool young = false;
	char *best = NULL;
	int64_t best_mtime = 0;
	DIR *dir = NULL;
	struct dirent *de;
	char what[300];
	int lfd;

	sp->pending = 0;
	sp->scan_gen++;
	spool_file_clear(sp);
	sp->dfd = spool_dir_open(AT_FDCWD, sp->dir, what, sizeof(what));
	lfd = sp->dfd >= 0 ? openat(sp->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (sp->dfd >= 0 && lfd < 0)
		snprintf(what, sizeof(what), "%s", strerror(errno));
	if (lfd >= 0 && (dir = fdopendir(lfd)) == NULL) {
		snprintf(what, sizeof(what), "%s", strerror(errno));
		close(lfd);
	}
	if (dir == NULL) {
		spool_refused(sp, what);
		goto idle;
	}
	if (sp->refused[0] != '\0') {
		log_info("tenant %s: report: the spool %s can be used again", sp->t->cfg->name, sp->dir);
		sp->refused[0] = sp->last_error[0] = '\0';
	}
	while ((de = readdir(dir)) != NULL) {
		struct stat st;
		size_t k;
		/* Any type: what is not a regular file is refused (and moved
		 * out) by spool_open, with a line saying so. */
		if (!spool_candidate(de->d_name) || fstatat(sp->dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		sp->pending++;
		if (stuck_find(sp, de->d_name, &k)) {
			if (stuck_same(&sp->stuck[k], &st)) {
				sp->stuck[k].seen = sp->scan_gen;
				continue;
			}
			stuck_remove(sp, k); /* replaced or rewritten: a new file */
		}
		if (!d->once && now - (int64_t)st.st_mtime < SPOOL_SETTLE_S) {
			young = true;
			continue;
		}
		if (best == NULL || strcmp(de->d_name, best) < 0) {
			free(best);
			best = strdup(de->d_name);
			best_mtime = (int64_t)st.st_mtime;
		}
	}
	closedir(dir);
	spool_retry_stuck(sp, now);
	if (best != NULL) {
		bool ok = spool_open(sp, best, best_mtime);
		free(best);
		spool_arm_ms(sp, 0);
		(void)ok;
		return;
	}
idle:
	spool_file_clear(sp);
	if (d->once) {
		if (!sp->once_done) {
			sp->once_done = true;
			daemon_source_done(d, sp->t, "report", sp->last_error[0] == '\0');
		}
		return;
	}
	int64_t wait_ms = young ? SPOOL_SETTLE_S * 1000 : SPOOL_RESCAN_S * 1000;
	for (size_t i = 0; i < sp->n_stuck; i++) {
		int64_t due = (sp->stuck[i].next_try - now) * 1000 + 100;
		if (due < wait_ms)
			wait_ms = due < 1000 ? 1000 : due;
	}
	spool_arm_ms(sp, wait_ms);
}

/* The one step timer. */
static void spool_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct report_spool *sp = arg;

	switch (sp->step) {
	case SPOOL_IDLE: spool_scan(sp); break;
	case SPOOL_READ: spool_read_step(sp); break;
	case SPOOL_STORE: spool_store_step(sp); break;
	}
}

/* Something was written or moved into the spool: scan soon (unless busy). */
static void spool_inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct report_spool *sp = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(sp->ifd, buf, sizeof(buf)) > 0)
		;
	if (sp->step == SPOOL_IDLE && !sp->t->daemon->once)
		spool_arm_ms(sp, SPOOL_DEBOUNCE_MS);
}

/* Create at/name (one level) with mode if it is missing; the mode is set
 * with fchmod, past the umask (the unit's is 0077).  An existing
 * directory keeps the mode its admin gave it. */
static int ensure_dir(int at, const char *name, mode_t mode)
{
	int fd;

	if (mkdirat(at, name, mode) < 0)
		return errno == EEXIST ? 0 : -errno;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

/* Create the spool and its processed/ and rejected/ if missing, and check
 * them; -errno and why. */
static int spool_setup(struct report_spool *sp, char *why, size_t n)
{
	struct stat st;
	char what[300];
	int r, dfd, sfd;

	r = ensure_dir(AT_FDCWD, sp->dir, SPOOL_MODE);
	if (r < 0) {
		snprintf(why, n, "%s", strerror(-r));
		return r;
	}
	dfd = spool_dir_open(AT_FDCWD, sp->dir, why, n);
	if (dfd < 0)
		return dfd;
	/* Group-writable without the sticky bit: members may remove or
	 * replace each other's exports (the daemon is safe either way). */
	if (fstat(dfd, &st) == 0 && (st.st_mode & S_IWGRP) && !(st.st_mode & S_ISVTX))
		log_warn("tenant %s: report_spool %s: mode %04o lets group members remove or replace each other's "
		         "files: chmod 3770 it", sp->t->cfg->name, sp->dir, (unsigned)(st.st_mode & 07777));
	for (int i = 0; i < 2; i++) {
		const char *sub = i == 0 ? "processed" : "rejected";
		r = ensure_dir(dfd, sub, SPOOL_SUB_MODE);
		sfd = r < 0 ? r : spool_dir_open(dfd, sub, what, sizeof(what));
		if (r < 0)
			snprintf(what, sizeof(what), "%s", strerror(-r));
		if (sfd < 0) {
			snprintf(why, n, "%s: %s", sub, what);
			close(dfd);
			return sfd;
		}
		close(sfd);
	}
	close(dfd);
	return 0;
}

/* See source_report.h. */
int report_spool_new(struct tenant *t, struct report_spool **ret)
{
	struct report_spool *sp;
	char why[600];
	int r;

	*ret = NULL;
	if (t->cfg->report_spool == NULL || t->cfg->report_spool[0] == '\0')
		return 0;
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return -ENOMEM;
	sp->t = t;
	sp->fd = -1;
	sp->dfd = -1;
	sp->ifd = -1;
	sp->dir = strdup(t->cfg->report_spool);
	sp->timer = evtimer_new(t->daemon->base, spool_timer_cb, sp);
	if (sp->dir == NULL || sp->timer == NULL) {
		report_spool_free(sp);
		return -ENOMEM;
	}
	r = spool_setup(sp, why, sizeof(why));
	if (r < 0)
		log_warn("tenant %s: report_spool %s: %s; scanning every %ds until it can be used", t->cfg->name, sp->dir,
		         why, SPOOL_RESCAN_S);
	sp->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (sp->ifd >= 0 && inotify_add_watch(sp->ifd, sp->dir, IN_CLOSE_WRITE | IN_MOVED_TO) >= 0) {
		sp->inotify_ev = event_new(t->daemon->base, sp->ifd, EV_READ | EV_PERSIST, spool_inotify_cb, sp);
		if (sp->inotify_ev != NULL)
			event_add(sp->inotify_ev, NULL);
	} else if (r == 0) {
		log_warn("tenant %s: report_spool %s: no inotify (%s); scanning every %ds", t->cfg->name, sp->dir,
		         strerror(errno), SPOOL_RESCAN_S);
	}
	*ret = sp;
	return 0;
}

/* See source_report.h. */
void report_spool_free(struct report_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->inotify_ev != NULL)
		event_free(sp->inotify_ev);
	if (sp->ifd >= 0)
		close(sp->ifd);
	if (sp->timer != NULL)
		event_free(sp->timer);
	spool_file_clear(sp);
	while (sp->n_stuck > 0)
		stuck_remove(sp, sp->n_stuck - 1);
	free(sp->stuck);
	free(sp->dir);
	free(sp);
}

/* See source_report.h. */
void report_spool_start(struct report_spool *sp)
{
	if (sp == NULL)
		return;
	sp->once_done = false;
	spool_arm_ms(sp, 0);
}

/* See source_report.h. */
json_t *report_source_status(struct tenant *t, struct report_spool *sp)
{
	struct sw_checkpoint cp;
	const char *state, *err;
	json_t *o;

	sw_store_checkpoint_get(t->daemon->store, t->cfg->name, "report", &cp);
	err = sp != NULL && sp->last_error[0] ? sp->last_error : cp.last_error[0] ? cp.last_error : NULL;
	if (sp != NULL && sp->step != SPOOL_IDLE)
		state = "running";
	else if (err != NULL)
		state = "failing";
	else if (cp.last_success > 0)
		state = "ok";
	else
		state = "idle";
	/* Event driven: there is no next run to speak of. */
	o = json_pack("{s:s,s:o,s:o,s:o,s:o,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:o}", "state", state, "last_success",
	              sw_json_time_or_null(cp.last_success), "last_error", err ? json_string(err) : json_null(),
	              "next_run", json_null(), "watermark", sw_json_time_or_null(cp.watermark), "records",
	              (json_int_t)cp.records, "spool", sp ? json_string(sp->dir) : json_null(), "pending",
	              (json_int_t)(sp ? sp->pending : 0), "files_imported", (json_int_t)(sp ? sp->imported : 0),
	              "files_duplicate", (json_int_t)(sp ? sp->duplicates : 0), "files_rejected",
	              (json_int_t)(sp ? sp->rejected : 0), "files_stuck", (json_int_t)(sp ? sp->n_stuck : 0), "current",
	              sp && sp->current[0] ? json_string(sp->current) : json_null());
	return o;
}

/* See source_report.h. */
int report_import_parsed(struct tenant *t, const char *name, const struct sw_report *r, int64_t now,
                         struct report_outcome *ret, char *why, size_t n)
{
	struct sw_store *s = t->daemon->store;
	struct sw_report_file f = {0};
	struct sw_checkpoint cp;
	size_t changed = 0;
	int rc;

	status_touch(t); /* its report checkpoint (status.c) */
	memset(ret, 0, sizeof(*ret));
	rc = sw_store_begin(s);
	if (rc < 0)
		goto fail;
	rc = sw_store_report_file_find(s, t->cfg->name, r->sha256, &ret->file);
	if (rc == 0) {
		ret->duplicate = true;
		sw_store_rollback(s);
		return 0;
	}
	if (rc != -ENOENT)
		goto fail;
	rc = sw_store_report_rows_add(s, t->cfg->name, 0, r->rows, r->n, now, &changed);
	if (rc < 0)
		goto fail;
	snprintf(f.name, sizeof(f.name), "%s", name);
	snprintf(f.sha256, sizeof(f.sha256), "%s", r->sha256);
	f.imported = now;
	f.rows = (int64_t)r->n;
	f.rejected = (int64_t)r->n_rejected;
	for (size_t i = 0; i < r->n; i++) {
		if (f.first_day == 0 || r->rows[i].day_start < f.first_day)
			f.first_day = r->rows[i].day_start;
		if (r->rows[i].day_end - SW_DAY > f.last_day)
			f.last_day = r->rows[i].day_end - SW_DAY;
	}
	rc = sw_store_report_file_add(s, t->cfg->name, &f, &f.id);
	if (rc < 0)
		goto fail;
	sw_store_checkpoint_get(s, t->cfg->name, "report", &cp);
	cp.last_attempt = cp.last_success = now;
	cp.last_error[0] = '\0';
	cp.records += (int64_t)changed;
	if (f.last_day + SW_DAY > cp.watermark)
		cp.watermark = f.last_day + SW_DAY;
	rc = sw_store_checkpoint_put(s, t->cfg->name, "report", &cp);
	if (rc < 0)
		goto fail;
	rc = sw_store_commit(s);
	if (rc < 0)
		goto fail;
	ret->file = f;
	ret->changed = changed;
	return 0;
fail:
	sw_store_rollback(s);
	snprintf(why, n, "cannot store the report: %s%s", sw_store_errmsg(s),
	         rc == -ENOSPC ? " (the state directory is full)" : "");
	return rc;
}
