/* jsonutil.c: see jsonutil.h. */
#include "jsonutil.h"

#include "util.h"

/* See jsonutil.h. */
json_t *sw_json_time(int64_t t)
{
	char buf[32];

	sw_time_format(t, buf, sizeof(buf));
	return json_string(buf);
}

/* See jsonutil.h. */
json_t *sw_json_time_or_null(int64_t t)
{
	return t <= 0 ? json_null() : sw_json_time(t);
}

/* See jsonutil.h. */
json_t *sw_json_day_or_null(int64_t t)
{
	char buf[32];

	if (t <= 0)
		return json_null();
	sw_time_format(t, buf, sizeof(buf));
	buf[10] = '\0';
	return json_string(buf);
}
