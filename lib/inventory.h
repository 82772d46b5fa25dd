/* inventory.h: the migration inventory as CSV (SPEC "Reports people
 * read"), rendered from the report document the daemon answers, so the
 * CSV never says more or less than --format json. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "util.h"

/* The columns, in order, as the header names them. */
#define SW_INVENTORY_CSV_HEADER                                                                        \
	"sender,tenant,auth,first_seen,last_seen,messages_30d,signins_30d,register,owner,device,criticality," \
	"migration,expires"

/* Append the inventory of every tenant of doc (doc.tenants[].inventory[])
 * to out: the header, then one CRLF-terminated row per sender (RFC 4180).
 * Cells are quoted when they hold a comma or a quote (quotes doubled); a
 * cell that begins with = + - @ TAB or CR gets a ' in front and is quoted
 * (a spreadsheet would run it as a formula); control bytes, newlines
 * included, are written as \xNN so a record is one line.  bom: begin with
 * a UTF-8 byte order mark, which Excel needs to read UTF-8.  0 or -ENOMEM. */
int sw_inventory_csv(const json_t *doc, bool bom, struct sw_buf *out);
/* The same in pieces (a report of thousands of tenants is rendered a
 * tenant at a time): the byte order mark when asked for and the header,
 * then the rows of one tenant's document (doc.tenants[i]). */
int sw_inventory_csv_head(bool bom, struct sw_buf *out);
int sw_inventory_csv_tenant(const json_t *tenant_doc, struct sw_buf *out);
