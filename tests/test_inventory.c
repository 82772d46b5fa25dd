/* test_inventory.c: the migration inventory as CSV: columns, RFC 4180
 * quoting, the formula defence, the BOM. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "inventory.h"

static char *render(const char *json, bool bom)
{
	json_error_t err;
	json_t *doc = json_loads(json, 0, &err);
	struct sw_buf b = {0};

	ck_assert_msg(doc != NULL, "%s", err.text);
	ck_assert_int_eq(sw_inventory_csv(doc, bom, &b), 0);
	json_decref(doc);
	return b.data;
}

START_TEST(rows_and_columns)
{
	char *csv = render("{\"tenants\":[{\"tenant\":\"contoso\",\"inventory\":[{\"sender\":\"scanner-hq@contoso.com\","
	                   "\"auth\":\"both\",\"first_seen\":\"2026-12-01\",\"last_seen\":\"2027-01-05\","
	                   "\"messages_30d\":120,\"signins_30d\":14,\"register\":\"approved\",\"owner\":"
	                   "\"facilities@contoso.com\",\"device\":\"Ricoh MP C3004\",\"criticality\":\"high\","
	                   "\"migration\":\"in-progress\",\"expires\":\"2027-01-31\"},{\"sender\":\"x@contoso.com\","
	                   "\"auth\":\"Basic\",\"register\":\"not registered\",\"messages_30d\":0,\"signins_30d\":1,"
	                   "\"owner\":null}]}]}",
	                   false);

	ck_assert_str_eq(csv, SW_INVENTORY_CSV_HEADER "\r\n"
	                      "scanner-hq@contoso.com,contoso,both,2026-12-01,2027-01-05,120,14,approved,"
	                      "facilities@contoso.com,Ricoh MP C3004,high,in-progress,2027-01-31\r\n"
	                      "x@contoso.com,contoso,Basic,,,0,1,not registered,,,,,\r\n");
	free(csv);
}
END_TEST

/* Commas and quotes are quoted (quotes doubled); a newline cannot split
 * a record; = + - @ first get a ' and quotes; the BOM comes first. */
START_TEST(quoting_formulas_bom)
{
	char *csv = render("{\"tenants\":[{\"tenant\":\"a,b\",\"inventory\":[{\"sender\":\"=HYPERLINK(\\\"x\\\")@c.com\","
	                   "\"owner\":\"Smith, \\\"Bob\\\"\",\"device\":\"line1\\nline2\",\"migration\":\"@SUM(1)\","
	                   "\"criticality\":\"-1\",\"expires\":\"+1\",\"auth\":\"\\tBasic\"}]}]}",
	                   true);

	ck_assert(memcmp(csv, "\xef\xbb\xbf" "sender,tenant,", 17) == 0);
	const char *row = strstr(csv, "\r\n") + 2;
	ck_assert_str_eq(row, "\"'=HYPERLINK(\"\"x\"\")@c.com\",\"a,b\",\"'\\x09Basic\",,,,,,"
	                      "\"Smith, \"\"Bob\"\"\",line1\\x0aline2,\"'-1\",\"'@SUM(1)\",\"'+1\"\r\n");
	free(csv);
	csv = render("{\"tenants\":[]}", false);
	ck_assert_str_eq(csv, SW_INVENTORY_CSV_HEADER "\r\n");
	free(csv);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("inventory");
	TCase *tc = tcase_create("csv");

	tcase_add_test(tc, rows_and_columns);
	tcase_add_test(tc, quoting_formulas_bom);
	suite_add_tcase(s, tc);
	return s;
}

SW_CHECK_MAIN(suite)
