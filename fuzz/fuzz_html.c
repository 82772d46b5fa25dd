/* fuzz_html.c: libFuzzer harness for the reports people read: the HTML
 * report and the inventory CSV, rendered from a report document (the
 * JSON `smtpwatchctl report --format json` prints) that the input makes.
 * Every string in that document can come from a tenant (a UPN, a display
 * name, an owner in the register, Microsoft's error text), so besides
 * crashes the harness checks what the HTML promises: only the template's
 * own elements, no attribute that runs script, no javascript: URL, every
 * attribute value quoted and every '&' an entity. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "inventory.h"
#include "report_html.h"
#include "fuzz.h"
#include "util.h"

/* The elements report_html.c writes; anything else came from the data. */
static const char *const allowed[] = {
	"html", "head", "meta", "title", "style", "body", "header", "footer", "section", "h1", "h2", "h3", "p",
	"div", "span", "b", "table", "thead", "tbody", "tr", "th", "td", "figure", "figcaption", "svg", "g",
	"rect", "line", "text", NULL,
};

static bool allowed_tag(const char *s, size_t n)
{
	for (size_t i = 0; allowed[i] != NULL; i++)
		if (strlen(allowed[i]) == n && memcmp(allowed[i], s, n) == 0)
			return true;
	return false;
}

/* Walk the HTML: every '<' opens a comment, a doctype, or an allowed
 * element whose attributes are name="value" with no '<' or '"' inside. */
static void check_html(const char *h, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (h[i] == '&') {
			size_t k = i + 1;
			while (k < n && (isalnum((unsigned char)h[k]) || h[k] == '#'))
				k++;
			CHECK(k > i + 1 && k < n && h[k] == ';');
			i = k + 1;
			continue;
		}
		if (h[i] != '<') {
			i++;
			continue;
		}
		i++;
		if (i < n && h[i] == '!') { /* <!DOCTYPE html> or a comment */
			const char *end = memchr(h + i, '>', n - i);
			CHECK(end != NULL);
			i = (size_t)(end - h) + 1;
			continue;
		}
		bool closing = i < n && h[i] == '/';
		i += closing;
		size_t name = i;
		while (i < n && (islower((unsigned char)h[i]) || isdigit((unsigned char)h[i])))
			i++;
		CHECK(allowed_tag(h + name, i - name));
		bool style = !closing && i - name == 5 && memcmp(h + name, "style", 5) == 0;
		for (;;) {
			while (i < n && h[i] == ' ')
				i++;
			CHECK(i < n);
			if (h[i] == '>')
				break;
			if (h[i] == '/' && i + 1 < n && h[i + 1] == '>') {
				i++;
				break;
			}
			CHECK(!closing);
			size_t an = i;
			while (i < n && (isalnum((unsigned char)h[i]) || h[i] == '-' || h[i] == ':')) /* SVG's viewBox */
				i++;
			CHECK(i > an);
			CHECK(!(i - an >= 2 && strncasecmp(h + an, "on", 2) == 0)); /* no event handler */
			if (h[i] != '=')
				continue;
			CHECK(i + 1 < n && h[i + 1] == '"');
			i += 2;
			size_t v = i;
			while (i < n && h[i] != '"') {
				CHECK(h[i] != '<');
				i++;
			}
			CHECK(i < n);
			CHECK(!(i - v >= 11 && strncasecmp(h + v, "javascript:", 11) == 0));
			i++;
		}
		i++; /* the '>' */
		if (style) { /* the template's CSS: up to </style>, no '<' of the data in it */
			const char *end = strstr(h + i, "</style>");
			CHECK(end != NULL);
			CHECK(memchr(h + i, '<', (size_t)(end - (h + i))) == NULL);
			i = (size_t)(end - h);
		}
	}
}

/* One input: a report document as JSON.  An input that is not JSON is
 * wrapped as the one string that every field of a tenant's report gets,
 * so that arbitrary bytes still reach the escapers. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *doc;
	struct sw_buf b = {0};
	int r;

	if (size > 65536)
		return 0;
	doc = json_loadb((const char *)data, size, JSON_ALLOW_NUL, &jerr);
	if (doc == NULL) {
		json_t *s = json_stringn_nocheck((const char *)data, size);
		doc = json_pack("{s:o,s:s,s:[{s:O,s:O,s:s,s:[{s:O,s:O,s:O,s:O}],s:{s:O,s:O,s:[{s:O,s:s,s:O}]},"
		                "s:[{s:O,s:O,s:O}]}]}",
		                "generated", s, "since", "2026-09-05", "tenants", "name", s, "tenant_id", s, "state",
		                "not-ready", "inventory", "sender", s, "owner", s, "device", s, "auth", s, "verdict",
		                "text", s, "result", s, "checks", "title", s, "status", "fail", "evidence", s, "alerts",
		                "summary", s, "subject", s, "rule", s);
		if (doc == NULL)
			return 0;
	}
	r = sw_report_html(doc, &b);
	CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r == 0 && b.data != NULL)
		check_html(b.data, b.len);
	b.len = 0;
	r = sw_inventory_csv(doc, size > 0 && data[0] & 1, &b);
	CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	sw_buf_clear(&b);
	json_decref(doc);
	return 0;
}
