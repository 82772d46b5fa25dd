/* smtpwatchd_internal.h: the parts of smtpwatchd.c that the daemon's unit
 * suites (tests/test_daemon_*.c) drive on their own.  Only smtpwatchd.c
 * and those suites include it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "smtpwatchd.h"

struct sw_diag;

/* Load a config and every tenant's register, the tenants_dir files
 * through cache (NULL: every file read); NULL (with diag) on error. */
struct sw_tenant_file_cache;
struct sw_config *daemon_load_config(const char *path, struct sw_tenant_file_cache *cache,
                                     struct sw_register ***ret_regs, struct sw_diag *diag);
/* Build the tenant runtimes of d->cfg (d->base, d->store and d->http set),
 * taking ownership of regs[]; no source is started. */
int daemon_tenants_build(struct daemon *d, struct sw_register **regs);
/* Tear down every tenant runtime. */
void daemon_tenants_free(struct daemon *d);

/* The clock watch.  reset: the readings the next check compares with (and
 * no pause).  check: one check with these readings; the timer passes
 * daemon_now() and daemon_mono_ms().  paused: sign-ins runs still to end
 * before the sign-in event rules run again. */
void daemon_clock_reset(int64_t wall, int64_t mono_ms);
void daemon_clock_check(struct daemon *d, int64_t wall, int64_t mono_ms);

/* One firing of the stall probe with its readings: now (daemon_mono_us)
 * and the loop thread's CPU (microseconds); its timer passes the clocks'.
 * It counts d->probe.due_us's lateness and keeps the longest step
 * (daemon_loop_step) beside the longest stall. */
void daemon_loop_probe(struct daemon *d, int64_t now_us, int64_t cpu_us);
size_t daemon_clock_paused(void);

/* The rest of a tenant's sliced detection pass, now, slice after slice
 * (what the loop would run one a turn at its lowest priority); nothing
 * else of the loop runs. */
void daemon_detect_finish(struct tenant *t);

/* The time budget of a detection slice, microseconds: 0 ends a slice
 * after each page or step (the suites that show what a continuation
 * runs), below 0 the default. */
void daemon_detect_slice_set(int64_t us);

/* The sign-ins the next detection page reads, from the page cur (0: the
 * largest) and the last slice's pace (examined in took_us of a budget of
 * slice_us): about half the budget a page, between DETECT_PAGE_MIN and
 * SW_DETECT_SLICE_PAGE, halfway from cur so one odd slice moves it only
 * so far. */
#define DETECT_PAGE_MIN 50
unsigned daemon_detect_page(unsigned cur, int64_t examined, int64_t took_us, int64_t slice_us);
