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

# cfeast-server (src/server/): a program beside the extension, not part of it
SERVER_SRCS  = $(wildcard src/server/*.c)
EXTRA_CLEAN  = cfeast-server

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

all: cfeast-server
cfeast-server: $(SERVER_SRCS) $(wildcard src/server/*.h)
	$(CC) -std=gnu11 -O2 -g -pthread -Wall -Wextra $(PG_CFLAGS) -I$(shell $(PG_CONFIG) --includedir) \
		-o $@ $(SERVER_SRCS) -lmicrohttpd -ljansson -lpq

# used by test/run-all.sh
print-regress:
	@echo $(REGRESS)
print-isolation:
	@echo $(ISOLATION)
.PHONY: print-regress print-isolation
