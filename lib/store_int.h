/* store_int.h: for the store's own files (store*.c) and for tests that
 * look inside the database: the SQLite handle, statements and the one
 * translation of SQLite result codes to errno.  Nothing else includes
 * this; the rest of the code speaks to the store through store*.h. */
#pragma once

#include <sqlite3.h>

#include "store.h"

/* A failed SQLite result code (primary or extended) to -errno, never 0:
 * FULL -ENOSPC, BUSY/LOCKED -EBUSY, NOMEM -ENOMEM, READONLY -EROFS,
 * CONSTRAINT -EEXIST, CORRUPT/NOTADB and everything else -EIO (the text,
 * kept by sw_store_fail(), says which). */
int sw_store_errno(int rc);
/* 0 for OK, ROW and DONE, else sw_store_errno(rc). */
int sw_store_result(int rc);
/* The same, keeping SQLite's message for sw_store_errmsg() on failure. */
int sw_store_check(struct sw_store *s, int rc);
/* Keep SQLite's message for rc ("what: message", or the message alone
 * when what is NULL, for sw_store_errmsg()) and return sw_store_errno(rc). */
int sw_store_fail(struct sw_store *s, int rc, const char *what);

/* A statement prepared on the store's handle; the caller finalizes it. */
int sw_store_prepare(struct sw_store *s, const char *sql, sqlite3_stmt **ret);
/* How many statements sw_store_cached() keeps: each call site with its own
 * SQL text takes one for the store's life, and one past the last fails
 * (-ENOBUFS), so this stays well above the number of call sites
 * (test_store counts them in lib/). */
#define SW_STORE_CACHED_MAX 128
/* A statement kept by the store for its life, found by the address of
 * sql (a static string): prepared the first time.  The caller resets it
 * (sw_store_stmt_done()) after each use and never finalizes it. */
int sw_store_cached(struct sw_store *s, const char *sql, sqlite3_stmt **ret);
/* Reset a statement and drop its bindings (which may point into the
 * caller's memory); NULL is nothing to do. */
void sw_store_stmt_done(sqlite3_stmt *st);

/* The SQLite handle. */
sqlite3 *sw_store_sqlite(struct sw_store *s);
