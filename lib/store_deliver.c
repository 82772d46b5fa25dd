/* store_deliver.c: the outbox queries of the delivery engine and its
 * digests (store_deliver.h). */
#include "store_deliver.h"
#include "store_int.h"

/* rule and tenant are copied out of the body when a row is queued (the
 * grouping of digests reads them from an index, not from JSON); digest is
 * the outbox id of the digest a row belongs to; members counts a digest
 * row's members (0 for an alert's row). */
const char sw_store_deliver_schema[] =
	"ALTER TABLE outbox ADD COLUMN rule TEXT;"
	"ALTER TABLE outbox ADD COLUMN tenant TEXT;"
	"ALTER TABLE outbox ADD COLUMN digest INTEGER;"
	"ALTER TABLE outbox ADD COLUMN members INTEGER NOT NULL DEFAULT 0;"
	"UPDATE outbox SET rule = json_extract(body, '$.rule'), tenant = json_extract(body, '$.tenant');"
	"CREATE INDEX outbox_group ON outbox (sink, rule, tenant, created);"
	"CREATE INDEX outbox_members ON outbox (digest) WHERE digest IS NOT NULL;";
