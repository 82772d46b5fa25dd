/* store_lifecycle.c: silences (see store_lifecycle.h). */
#include "store_lifecycle.h"

const char sw_store_lifecycle_schema[] =
	"CREATE TABLE silences(id INTEGER PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL,"
	" until INTEGER NOT NULL, created INTEGER NOT NULL, created_by TEXT, note TEXT);";
