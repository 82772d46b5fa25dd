/* register.c: the exception register ([exception ADDRESS] INI sections). */
#include "register.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Zero the host bits past the prefix. */
static void cidr_mask(struct sw_cidr *c)
{
	int bytes = c->family == AF_INET ? 4 : 16;

	for (int i = 0; i < bytes; i++) {
		int keep = c->prefix - i * 8;
		if (keep >= 8)
			continue;
		c->addr[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
	}
}

/* Parse "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6); host bits are masked off. */
int sw_cidr_parse(const char *s, struct sw_cidr *ret)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash;
	struct sw_cidr c = { 0 };
	size_t alen;
	int max;

	if (s == NULL)
		return -EINVAL;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, c.addr) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, c.addr) == 1)
		c.family = AF_INET6;
	else
		return -EINVAL;
	max = c.family == AF_INET ? 32 : 128;
	c.prefix = max;
	if (slash != NULL) {
		const char *p = slash + 1;
		int v = 0;
		if (!isdigit((unsigned char)*p) || (p[0] == '0' && p[1] != '\0'))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			v = v * 10 + (*p - '0');
			if (v > max)
				return -EINVAL;
		}
		if (*p != '\0')
			return -EINVAL;
		c.prefix = v;
	}
	cidr_mask(&c);
	*ret = c;
	return 0;
}

/* Does ip fall in c?  IPv4-mapped IPv6 addresses match IPv4 ranges. */
bool sw_cidr_match(const struct sw_cidr *c, const char *ip)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct sw_cidr a = { 0 };
	uint8_t buf[16];

	if (c == NULL || ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, buf) == 1) {
		a.family = AF_INET;
		memcpy(a.addr, buf, 4);
	} else if (inet_pton(AF_INET6, ip, buf) == 1) {
		if (c->family == AF_INET && memcmp(buf, mapped, 12) == 0) {
			a.family = AF_INET;
			memcpy(a.addr, buf + 12, 4);
		} else {
			a.family = AF_INET6;
			memcpy(a.addr, buf, 16);
		}
	} else {
		return false;
	}
	if (a.family != c->family)
		return false;
	a.prefix = c->prefix;
	cidr_mask(&a);
	return memcmp(a.addr, c->addr, a.family == AF_INET ? 4 : 16) == 0;
}

static const struct sw_name criticality_names[] = {
	{ SW_CRIT_NONE, "" },
	{ SW_CRIT_LOW, "low" },
	{ SW_CRIT_MEDIUM, "medium" },
	{ SW_CRIT_HIGH, "high" },
	{ SW_CRIT_CRITICAL, "critical" },
	{ 0, NULL },
};
static const struct sw_name migration_names[] = {
	{ SW_MIG_NONE, "" },
	{ SW_MIG_PLANNED, "planned" },
	{ SW_MIG_IN_PROGRESS, "in-progress" },
	{ SW_MIG_BLOCKED, "blocked" },
	{ SW_MIG_DONE, "done" },
	{ 0, NULL },
};

/* See register.h. */
SW_DEFINE_NAME_LOOKUP(sw_criticality_name, sw_criticality_parse, enum sw_criticality, criticality_names, "")
SW_DEFINE_NAME_LOOKUP(sw_migration_name, sw_migration_parse, enum sw_migration, migration_names, "")

enum {
	RK_OWNER,
	RK_JUSTIFICATION,
	RK_TICKET,
	RK_EXPIRES,
	RK_ALLOWED_IPS,
	RK_MAX_DAILY,
	RK_DEVICE,
	RK_CRITICALITY,
	RK_MIGRATION,
	RK_MIGRATION_NOTE,
	RK_N
};
static const char *const register_keys[RK_N] = {
	"owner",  "justification", "ticket",    "expires",       "allowed_ips", "max_daily_messages",
	"device", "criticality",   "migration", "migration_note",
};

/* State of one sw_register_load run. */
struct reg_ctx {
	struct sw_register *reg;
	struct sw_diag *diag;
	const char *path;
	int64_t max_lifetime, now;
	size_t cap;              /* entries and key_lines allocated */
	int (*key_lines)[RK_N]; /* parallel to reg->entries */
	ssize_t cur;             /* current entry, -1 when keys are ignored */
	bool failed;
	bool oom;
};

/* Report an error or a warning at a line of the register. */
static void reg_diag(struct reg_ctx *x, bool warning, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reg_diag(struct reg_ctx *x, bool warning, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sw_diag_addv(x->diag, warning, x->path, line, fmt, ap);
	va_end(ap);
	if (!warning)
		x->failed = true;
}

/* A plausible mailbox address: local@domain.tld, no spaces. */
static bool address_valid(const char *s)
{
	const char *at = strchr(s, '@');
	const char *dom;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL)
		return false;
	for (const char *p = s; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p) || strchr("<>()[],;:\"\\", *p))
			return false;
	dom = at + 1;
	if (*dom == '\0' || *dom == '.' || dom[strlen(dom) - 1] == '.' || strchr(dom, '.') == NULL ||
	    strstr(dom, "..") != NULL)
		return false;
	return true;
}

/* Free one entry's contents. */
static void exception_clear(struct sw_exception *e)
{
	free(e->mailbox);
	free(e->owner);
	free(e->justification);
	free(e->ticket);
	free(e->expires_text);
	free(e->allowed_ips);
	free(e->device);
	free(e->migration_note);
}

/* FNV-1a over the lower-cased mailbox: lookups ignore case. */
static size_t mailbox_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)tolower((unsigned char)*s)) * 1099511628211ULL;
	return (size_t)(h ^ h >> 32);
}

/* The slot holding mailbox, or the empty slot where it would go. */
static size_t *index_slot(const struct sw_register *r, const char *mailbox)
{
	size_t mask = r->n_slots - 1, i = mailbox_hash(mailbox) & mask;

	while (r->slots[i] != 0 && strcasecmp(r->entries[r->slots[i] - 1].mailbox, mailbox) != 0)
		i = (i + 1) & mask;
	return &r->slots[i];
}

/* Make room for one more mailbox in the index (kept at most half full, so
 * probes stay short); 0 or -ENOMEM. */
static int index_grow(struct sw_register *r)
{
	size_t *old = r->slots, n_old = r->n_slots;

	if ((r->n + 1) * 2 <= r->n_slots)
		return 0;
	r->n_slots = n_old ? n_old * 2 : 64;
	r->slots = calloc(r->n_slots, sizeof(*r->slots));
	if (r->slots == NULL) {
		r->slots = old;
		r->n_slots = n_old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_old; i++)
		if (old[i] != 0)
			*index_slot(r, r->entries[old[i] - 1].mailbox) = old[i];
	free(old);
	return 0;
}

/* Room for one more entry and its key lines, growing geometrically (a
 * realloc per entry copies the whole array each time on a large register). */
static int entries_reserve(struct reg_ctx *x)
{
	struct sw_exception *entries;
	int (*kl)[RK_N];
	size_t cap;

	if (x->reg->n < x->cap)
		return index_grow(x->reg);
	cap = x->cap ? x->cap * 2 : 16;
	entries = realloc(x->reg->entries, cap * sizeof(*entries));
	if (entries == NULL)
		return -ENOMEM;
	x->reg->entries = entries;
	kl = realloc(x->key_lines, cap * sizeof(*kl));
	if (kl == NULL)
		return -ENOMEM;
	x->key_lines = kl;
	x->cap = cap;
	return index_grow(x->reg);
}

/* A section header: start an entry, or ignore what follows. */
static void reg_section_cb(void *user, int line, const char *header)
{
	struct reg_ctx *x = user;
	size_t tlen = strcspn(header, " \t");
	const char *name = header + tlen;
	struct sw_exception *e;
	size_t *slot;
	char *mailbox;

	x->cur = -1;
	while (isspace((unsigned char)*name))
		name++;
	if (tlen != 9 || strncmp(header, "exception", 9) != 0) {
		reg_diag(x, false, line, "unknown section [%s] (expected [exception ADDRESS])", header);
		return;
	}
	if (*name == '\0') {
		reg_diag(x, false, line, "section [exception] needs a mailbox: [exception ADDRESS]");
		return;
	}
	if (!address_valid(name)) {
		reg_diag(x, false, line, "[%s]: \"%s\" is not an email address", header, name);
		return;
	}
	mailbox = sw_strdup_lower(name);
	if (mailbox == NULL) {
		x->oom = true;
		return;
	}
	if (entries_reserve(x) < 0) {
		free(mailbox);
		x->oom = true;
		return;
	}
	slot = index_slot(x->reg, mailbox);
	if (*slot != 0) {
		reg_diag(x, false, line, "duplicate exception for %s (first at line %d)", mailbox,
		         x->reg->entries[*slot - 1].line);
		free(mailbox);
		return;
	}
	e = &x->reg->entries[x->reg->n];
	memset(e, 0, sizeof(*e));
	memset(x->key_lines[x->reg->n], 0, sizeof(x->key_lines[0]));
	e->mailbox = mailbox;
	e->line = line;
	e->max_daily_messages = -1;
	x->cur = (ssize_t)x->reg->n++;
	*slot = x->reg->n;
}

/* Were host bits past the prefix set in tok (which parsed as c)?  The
 * parser masks them off; the operator should hear that it did. */
static bool cidr_host_bits(const char *tok, const struct sw_cidr *c)
{
	char addr[INET6_ADDRSTRLEN + 1];
	uint8_t raw[16] = { 0 };
	size_t alen = strcspn(tok, "/");

	if (tok[alen] == '\0' || alen >= sizeof(addr))
		return false;
	memcpy(addr, tok, alen);
	addr[alen] = '\0';
	if (inet_pton(c->family, addr, raw) != 1)
		return false;
	return memcmp(raw, c->addr, c->family == AF_INET ? 4 : 16) != 0;
}

typedef unsigned __int128 u128;

/* One CIDR of a family as the closed range [lo, hi] of its addresses. */
struct span {
	u128 lo, hi;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Do the ranges of one family in list cover all of that family's
 * addresses (0.0.0.0/0, or 0.0.0.0/1 and 128.0.0.0/1, ...)?  Such a list
 * turns the IP check off while looking like one.  -ENOMEM or 0/1. */
static int cidrs_cover_all(const struct sw_cidr *list, size_t n, int family)
{
	int bits = family == AF_INET ? 32 : 128, bytes = bits / 8;
	u128 top = bits == 128 ? ~(u128)0 : ((u128)1 << 32) - 1, next = 0;
	struct span *s = malloc((n ? n : 1) * sizeof(*s));
	size_t k = 0;
	int all = 0;

	if (s == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int host = bits - list[i].prefix;
		u128 lo = 0;
		if (list[i].family != family)
			continue;
		for (int b = 0; b < bytes; b++)
			lo = lo << 8 | list[i].addr[b];
		s[k].lo = lo;
		s[k].hi = lo | (host == 128 ? ~(u128)0 : ((u128)1 << host) - 1);
		k++;
	}
	qsort(s, k, sizeof(*s), span_cmp);
	/* Sweep in address order: next is the lowest address not yet covered. */
	for (size_t i = 0; i < k && s[i].lo <= next; i++) {
		if (s[i].hi == top) {
			all = 1;
			break;
		}
		if (s[i].hi + 1 > next)
			next = s[i].hi + 1;
	}
	free(s);
	return all;
}

/* Refuse an allowed_ips that lets every IPv4 or every IPv6 address in. */
static bool allowed_ips_cover_all(struct reg_ctx *x, int line, const struct sw_cidr *list, size_t n,
                                  const char *value)
{
	static const struct {
		int family;
		const char *name;
	} fam[] = { { AF_INET, "IPv4" }, { AF_INET6, "IPv6" } };

	for (size_t f = 0; f < 2; f++) {
		int r = cidrs_cover_all(list, n, fam[f].family);
		if (r < 0) {
			x->oom = true;
			return true;
		}
		if (r > 0) {
			reg_diag(x, false, line,
			         "allowed_ips = %s covers every %s address, which turns the IP check off: list the "
			         "sender's own ranges (leave allowed_ips out to allow any address)",
			         value, fam[f].name);
			return true;
		}
	}
	return false;
}

/* Parse allowed_ips: a comma list of addresses and CIDR ranges. */
static void parse_allowed_ips(struct reg_ctx *x, int line, struct sw_exception *e, const char *value)
{
	char *copy = strdup(value), *rest = copy, *tok;
	struct sw_cidr *list = NULL;
	size_t n = 0;
	bool bad = false;

	if (copy == NULL) {
		x->oom = true;
		return;
	}
	while ((tok = strsep(&rest, ",")) != NULL) {
		struct sw_cidr c, *l;
		tok = sw_strtrim(tok);
		if (*tok == '\0') {
			reg_diag(x, false, line, "allowed_ips: empty entry in the list");
			bad = true;
			continue;
		}
		if (sw_cidr_parse(tok, &c) < 0) {
			reg_diag(x, false, line, "allowed_ips: invalid address or CIDR \"%s\"", tok);
			bad = true;
			continue;
		}
		if (cidr_host_bits(tok, &c)) {
			char net[INET6_ADDRSTRLEN];
			inet_ntop(c.family, c.addr, net, sizeof(net));
			reg_diag(x, true, line, "allowed_ips: %s has host bits set; read as %s/%d", tok, net, c.prefix);
		}
		l = realloc(list, (n + 1) * sizeof(*l));
		if (l == NULL) {
			x->oom = bad = true;
			break;
		}
		list = l;
		list[n++] = c;
	}
	if (!bad && n == 0) {
		reg_diag(x, false, line, "allowed_ips: empty list");
		bad = true;
	}
	if (!bad)
		bad = allowed_ips_cover_all(x, line, list, n, value);
	free(copy);
	if (bad) {
		free(list);
		return;
	}
	e->allowed_ips = list;
	e->n_allowed_ips = n;
}

/* Parse expires: a date, valid through that whole day (UTC). */
static void parse_expires(struct reg_ctx *x, int line, struct sw_exception *e, const char *value)
{
	int64_t day;

	if (sw_date_parse(value, &day) < 0) {
		reg_diag(x, false, line, "expires: invalid date \"%s\" (expected YYYY-MM-DD)", value);
		return;
	}
	e->expires_text = strdup(value);
	if (e->expires_text == NULL) {
		x->oom = true;
		return;
	}
	e->expires = day + 86400;
}

/* A key of the current entry. */
static void reg_key_cb(void *user, int line, const char *section, const char *name, const char *value)
{
	struct reg_ctx *x = user;
	struct sw_exception *e;
	int *kl;
	char **str = NULL;
	int k;

	if (x->cur < 0)
		return;
	e = &x->reg->entries[x->cur];
	kl = x->key_lines[x->cur];
	for (k = 0; k < RK_N; k++)
		if (strcmp(register_keys[k], name) == 0)
			break;
	if (k == RK_N) {
		reg_diag(x, false, line, "unknown key \"%s\" in [%s]", name, section);
		return;
	}
	if (kl[k] != 0) {
		reg_diag(x, false, line, "duplicate key \"%s\" in [%s] (first at line %d)", name, section, kl[k]);
		return;
	}
	kl[k] = line;
	if (*value == '\0') {
		reg_diag(x, false, line, "%s: empty value", name);
		return;
	}
	switch (k) {
	case RK_OWNER:
		str = &e->owner;
		break;
	case RK_JUSTIFICATION:
		str = &e->justification;
		break;
	case RK_TICKET:
		str = &e->ticket;
		break;
	case RK_EXPIRES:
		parse_expires(x, line, e, value);
		break;
	case RK_ALLOWED_IPS:
		parse_allowed_ips(x, line, e, value);
		break;
	case RK_DEVICE:
		str = &e->device;
		break;
	case RK_MIGRATION_NOTE:
		str = &e->migration_note;
		break;
	case RK_CRITICALITY:
		/* "" names NONE in the table: an empty value was refused above. */
		if (sw_criticality_parse(value, &e->criticality) < 0)
			reg_diag(x, false, line, "criticality: expected low, medium, high or critical, not \"%s\"", value);
		break;
	case RK_MIGRATION:
		if (sw_migration_parse(value, &e->migration) < 0)
			reg_diag(x, false, line, "migration: expected planned, in-progress, blocked or done, not \"%s\"",
			         value);
		break;
	case RK_MAX_DAILY: {
		char *end;
		long long v;
		errno = 0;
		v = isdigit((unsigned char)*value) ? strtoll(value, &end, 10) : -1;
		if (v <= 0 || errno != 0 || *end != '\0')
			reg_diag(x, false, line, "max_daily_messages: expected a positive integer, not \"%s\"", value);
		else
			e->max_daily_messages = v;
		break;
	}
	}
	if (str != NULL) {
		*str = strdup(value);
		if (*str == NULL)
			x->oom = true;
	}
}

/* Whole-entry checks: expires present, within the lifetime, not past. */
static void exception_validate(struct reg_ctx *x, struct sw_exception *e, const int *kl)
{
	char life[32];

	if (kl[RK_EXPIRES] == 0) {
		reg_diag(x, false, e->line, "[exception %s]: expires is required (YYYY-MM-DD)", e->mailbox);
		return;
	}
	if (kl[RK_OWNER] == 0)
		reg_diag(x, true, e->line, "exception %s has no owner", e->mailbox);
	if (e->expires_text == NULL)
		return; /* unparsable, already reported */
	if (x->max_lifetime > 0 && e->expires - x->now > x->max_lifetime) {
		sw_duration_format(x->max_lifetime, life, sizeof(life));
		reg_diag(x, false, kl[RK_EXPIRES], "expires %s is more than %s ahead (max_exception_lifetime)",
		         e->expires_text, life);
	} else if (!sw_exception_active(e, x->now)) {
		reg_diag(x, true, kl[RK_EXPIRES], "exception %s expired on %s", e->mailbox, e->expires_text);
	}
}

/* Load a register (see register.h). */
int sw_register_load(const char *path, int64_t max_lifetime, int64_t now, struct sw_register **ret,
                     struct sw_diag *diag)
{
	static const struct sw_ini_handler handler = { reg_section_cb, reg_key_cb };
	struct reg_ctx x = { .diag = diag, .path = path, .max_lifetime = max_lifetime, .now = now, .cur = -1 };
	size_t diag_from = diag ? diag->n : 0;
	int r;

	x.reg = calloc(1, sizeof(*x.reg));
	if (x.reg == NULL)
		return -ENOMEM;
	if (path == NULL)
		goto done;
	x.reg->path = strdup(path);
	if (x.reg->path == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = sw_ini_parse(path, &handler, &x, diag);
	if (r < 0)
		goto out;
	if (r > 0)
		x.failed = true;
	for (size_t i = 0; i < x.reg->n; i++)
		exception_validate(&x, &x.reg->entries[i], x.key_lines[i]);
	sw_diag_sort(diag, diag_from);
	if (x.oom) {
		r = -ENOMEM;
		goto out;
	}
	if (x.failed) {
		r = -EINVAL;
		goto out;
	}
done:
	*ret = x.reg;
	x.reg = NULL;
	r = 0;
out:
	sw_register_free(x.reg);
	free(x.key_lines);
	return r;
}

/* Free a register. */
void sw_register_free(struct sw_register *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		exception_clear(&r->entries[i]);
	free(r->entries);
	free(r->slots);
	free(r->path);
	free(r);
}

/* Case-insensitive lookup by mailbox: through the index when there is one. */
const struct sw_exception *sw_register_find(const struct sw_register *r, const char *mailbox)
{
	if (r != NULL && mailbox != NULL && r->slots != NULL) {
		size_t slot = *index_slot(r, mailbox);
		return slot != 0 ? &r->entries[slot - 1] : NULL;
	}
	for (size_t i = 0; r != NULL && mailbox != NULL && i < r->n; i++)
		if (strcasecmp(r->entries[i].mailbox, mailbox) == 0)
			return &r->entries[i];
	return NULL;
}

/* Valid until 00:00Z of the day after expires. */
bool sw_exception_active(const struct sw_exception *e, int64_t now)
{
	return e != NULL && now < e->expires;
}

/* Does ip fall in the entry's allowed_ips (true when it has none)? */
bool sw_exception_ip_allowed(const struct sw_exception *e, const char *ip)
{
	if (e == NULL)
		return false;
	if (e->n_allowed_ips == 0)
		return true;
	for (size_t i = 0; i < e->n_allowed_ips; i++)
		if (sw_cidr_match(&e->allowed_ips[i], ip))
			return true;
	return false;
}
