/*-------------------------------------------------------------------------
 * cfeast.c
 *	  Module entry point: GUCs and the registry cache's callbacks.
 *-------------------------------------------------------------------------
 */
#include "cfeast.h"
#include "freshness.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static const struct config_enum_entry cf_unknown_fields_options[] = {
	{"error", CF_UNKNOWN_ERROR, false},
	{"ignore", CF_UNKNOWN_IGNORE, false},
	{NULL, 0, false}
};

void
_PG_init(void)
{
	DefineCustomEnumVariable("cfeast.unknown_fields",
							 "What feast_push does with a field that no view and no timestamp uses.",
							 "error (the default) refuses the push; ignore drops the field.",
							 &cf_unknown_fields,
							 CF_UNKNOWN_ERROR,
							 cf_unknown_fields_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("cfeast.direct_read",
							 "Lets feast_get_online_features probe a plain online table's primary key directly for one entity.",
							 "Both ways give the same answer; off forces the cached SPI plan (for comparison).",
							 &cf_direct_read,
							 true,
							 PGC_USERSET,
							 GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("cfeast.expire_batch_rows",
							"About how many online rows feast_expire examines per batch (and, called on its own, per transaction).",
							NULL,
							&cf_expire_batch_rows,
							10000, 1, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("cfeast");
	cf_registry_init();
}
