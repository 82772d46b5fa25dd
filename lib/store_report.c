/* store_report.c: the SMTP AUTH clients report tables (see store_report.h). */
#include "store_report.h"

const char sw_store_report_schema[] =
	"CREATE TABLE report_files(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, sha256 TEXT NOT NULL,"
	" name TEXT, imported INTEGER, rows INTEGER, UNIQUE(tenant, sha256));";
