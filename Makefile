# cfeast: a Feast-style feature store inside PostgreSQL (PGXS build)

EXTENSION   = cfeast
MODULE_big  = cfeast
OBJS        = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA        = $(wildcard sql/cfeast--*.sql)
PGFILEDESC  = "cfeast - feature store for PostgreSQL"

# every sql/*.sql except the extension scripts is a regression test
REGRESS      = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/cfeast--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=.
ISOLATION      = $(sort $(patsubst test/isolation/specs/%.spec,%,$(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS  += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# used by test/run-all.sh
print-regress:
	@echo $(REGRESS)
print-isolation:
	@echo $(ISOLATION)
.PHONY: print-regress print-isolation
