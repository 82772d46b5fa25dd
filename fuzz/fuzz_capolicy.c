/* fuzz_capolicy.c: libFuzzer harness for the policy parsers (conditional
 * access pages, security defaults, group members, What If answers) and
 * the evaluator over whatever policies parse. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capolicy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Membership from the input's first byte: every group yes, no or unknown. */
static int member(void *arg, const char *group, const char *user)
{
	int k = *(const int *)arg;

	(void)group;
	(void)user;
	return k == 0 ? SW_YES : k == 1 ? SW_NO : SW_UNKNOWN;
}

static int whatif_cb(const char *policy_id, bool applies, const char *reasons, void *arg)
{
	(void)applies;
	(void)arg;
	if (policy_id == NULL || reasons == NULL)
		__builtin_trap();
	return 0;
}

/* The answer is one of the four values, decided_by names every layer. */
static void check_verdict(const struct sw_verdict *v)
{
	if (v->basic > SW_ACCESS_UNKNOWN || v->oauth > SW_ACCESS_UNKNOWN)
		__builtin_trap();
	if (json_array_size(v->decided_by) < 4)
		__builtin_trap();
	if ((v->basic == SW_ACCESS_BLOCKED) != (v->blocked_by[0] != '\0'))
		__builtin_trap();
	if (strnlen(v->blocked_by, sizeof(v->blocked_by)) == sizeof(v->blocked_by))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_ca_policies ps = {0};
	struct sw_error err = {0};
	char *next = NULL, by[200];
	json_t *ids = NULL, *near = NULL;
	size_t skipped = 0;
	bool on;
	int k = size > 0 ? data[0] % 3 : 2;

	if (sw_ca_policies_parse((const char *)data, size, &ps, &next, &skipped, &err) == 0) {
		for (int tri = -1; tri <= 1; tri++) {
			struct sw_layers in = {
				.tenant_disabled = k != 0,
				.mailbox = (enum sw_tristate)tri,
				.auth_known = k != 2,
				.default_policy = "Default",
				.default_allows = k == 1 ? SW_NO : SW_YES,
				.user_allows = SW_UNKNOWN,
				.security_defaults = k - 1,
				.ca_known = true,
				.ca = &ps,
				.user_id = tri == 0 ? NULL : "6b1e0c2a-0000-4000-8000-000000000002",
				.member = member,
				.arg = &k,
			};
			struct sw_verdict v;
			if (sw_verdict_eval(&in, &v) == 0) {
				check_verdict(&v);
				sw_verdict_clear(&v);
			}
		}
		json_decref(sw_ca_policies_groups(&ps));
		if (sw_legacy_blocked(&ps, true, k - 1, by, sizeof(by), &near) != -ENOMEM) /* SW_UNKNOWN < 0 */
			json_decref(near);
		sw_ca_policies_clear(&ps);
		free(next);
	}
	sw_secdefaults_parse((const char *)data, size, &on, &err);
	next = NULL;
	if (sw_group_members_parse((const char *)data, size, &ids, &next, &err) == 0) {
		json_decref(ids);
		free(next);
	}
	sw_whatif_parse((const char *)data, size, whatif_cb, NULL, &err);
	return 0;
}
