/* register.h: the exception register, one INI file per tenant. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct sw_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
};
int sw_cidr_parse(const char *s, struct sw_cidr *ret); /* "203.0.113.0/28", "2001:db8::/48", bare address = /32 or /128 */
bool sw_cidr_match(const struct sw_cidr *c, const char *ip); /* false for unparsable ip */

/* What the register says about a sender's business weight and its move to
 * OAuth (SPEC "Reports people read"); NONE when the key is absent. */
enum sw_criticality {
	SW_CRIT_NONE,
	SW_CRIT_LOW,
	SW_CRIT_MEDIUM,
	SW_CRIT_HIGH,
	SW_CRIT_CRITICAL,
};
const char *sw_criticality_name(enum sw_criticality c); /* "" for NONE */
int sw_criticality_parse(const char *s, enum sw_criticality *ret);

enum sw_migration {
	SW_MIG_NONE,
	SW_MIG_PLANNED,
	SW_MIG_IN_PROGRESS,
	SW_MIG_BLOCKED,
	SW_MIG_DONE,
};
const char *sw_migration_name(enum sw_migration m); /* "" for NONE */
int sw_migration_parse(const char *s, enum sw_migration *ret);

struct sw_exception {
	char *mailbox; /* lower-case, from [exception ADDRESS] */
	int line;      /* line of the section header */
	char *owner;
	char *justification;
	char *ticket;
	int64_t expires; /* Unix seconds of 00:00Z of the day after `expires` (valid through that day) */
	char *expires_text;
	struct sw_cidr *allowed_ips; /* may be NULL */
	size_t n_allowed_ips;
	int64_t max_daily_messages; /* -1 when not set */
	char *device;         /* what sends: "Ricoh MP C3004"; may be NULL */
	enum sw_criticality criticality;
	enum sw_migration migration;
	char *migration_note; /* may be NULL */
};

struct sw_register {
	char *path;
	struct sw_exception *entries;
	size_t n;
	/* Hash index over the mailboxes, filled by sw_register_load: slot
	 * value = entry index + 1, 0 = empty; n_slots a power of two.  A
	 * register built by hand (slots NULL) is searched in order. */
	size_t *slots;
	size_t n_slots;
};

/* Load a register.  Errors (missing/unparsable expires, bad CIDR, lifetime
 * over max_lifetime from now, unknown key, duplicate mailbox) go to diag with
 * file:line and make it return -EINVAL; an entry already expired at `now`
 * is a warning only.  path NULL gives an empty register. */
int sw_register_load(const char *path, int64_t max_lifetime, int64_t now, struct sw_register **ret,
                     struct sw_diag *diag);
void sw_register_free(struct sw_register *r);
/* Case-insensitive lookup, O(1) on a loaded register; NULL if absent. */
const struct sw_exception *sw_register_find(const struct sw_register *r, const char *mailbox);
/* Is the entry valid at `now` (not expired)? */
bool sw_exception_active(const struct sw_exception *e, int64_t now);
/* Does ip fall in allowed_ips?  true when the entry has no allowed_ips. */
bool sw_exception_ip_allowed(const struct sw_exception *e, const char *ip);
