# cfeast: a Feast-style feature store inside PostgreSQL (PGXS build)

EXTENSION   = cfeast
MODULE_big  = cfeast
OBJS        = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA        = $(wildcard sql/cfeast--*.sql)
PGFILEDESC  = "cfeast - feature store for PostgreSQL"

# Tests: "make installcheck" runs the regression tests (every sql/*.sql except the extension
# scripts, against expected/), the isolation specs (test/isolation) and the TAP tests (test/tap,
# which start clusters of their own and so must run as a non-root user) against the installed
# extension and the server that PGHOST/PGPORT/PGUSER name.  One part or one test:
#   make installcheck ISOLATION= TAP_TESTS=          (regression only; REGRESS=push for one)
#   make installcheck REGRESS= TAP_TESTS=            (isolation only; ISOLATION=push_dtype_race)
#   make installcheck REGRESS= ISOLATION= PROVE_TESTS=test/tap/001_crash.pl
REGRESS      = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/cfeast--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=.
ISOLATION      = $(sort $(patsubst test/isolation/specs/%.spec,%,$(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation
TAP_TESTS    = 1
PROVE_TESTS  = $(wildcard test/tap/*.pl)

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

# Feast's web UI (test/ui) built into test/ui/dist, for cfeast-server --ui test/ui/dist;
# needs node and npm (the npm tree stays in test/ui/node_modules, never committed)
ui:
	cd test/ui && npm install --no-audit --no-fund --loglevel=error && node build.mjs
.PHONY: ui

# used by test/run-all.sh
print-regress:
	@echo $(REGRESS)
print-isolation:
	@echo $(ISOLATION)
.PHONY: print-regress print-isolation
