# test/lib/common.sh: shared set-up for cfeast's quickstart and test runner.
# Sourced by test/quickstart.sh and test/run-all.sh.  Runs as root on Debian 12:
# installs what is missing, builds, installs, and runs a throwaway cluster as
# the postgres user on a Unix socket in a temporary directory.

CF_ROOT=${CF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CF_PGBIN=/usr/lib/postgresql/15/bin
CF_DEBS="postgresql-15 postgresql-server-dev-15 postgresql-contrib postgresql-15-cron postgresql-15-plproxy libjansson-dev libmicrohttpd-dev libpq-dev libipc-run-perl python3 make gcc curl unixodbc unixodbc-dev odbc-postgresql"

# the same locale and encoding whatever the caller's environment says (CI may set none):
# clusters are UTF8, messages and sort order are C's
export LANG=C.UTF-8 LC_ALL=C.UTF-8
unset LANGUAGE

cf_log() { printf '== %s\n' "$*" >&2; }

# install the Debian packages that are missing
cf_install_deps() {
	local missing=()
	local p
	for p in $CF_DEBS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		cf_log "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		# wait for another apt (a parallel run installing too) rather than fail on its lock
		apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
		apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	# Debian's postgresql-common may start a cluster of its own; we never use it
	id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
}

# build and install into the system (quickstart) ...
cf_build_install() {
	cf_log "building cfeast"
	make -C "$CF_ROOT" -s clean >/dev/null
	make -C "$CF_ROOT" -s ${CF_MAKE_FLAGS:-} >/dev/null || return 1
	make -C "$CF_ROOT" -s install >/dev/null || return 1
}

# a scratch directory the postgres user can use; removed by cf_cleanup
cf_mktemp() {
	CF_TMP=$(mktemp -d /tmp/cfeast.XXXXXX)
	chmod 755 "$CF_TMP"
	chown postgres: "$CF_TMP"
}

# start a throwaway cluster: CF_PGHOST (socket dir), CF_PGPORT; extra postgres -c options in $1
cf_start_cluster() {
	local opts=${1:-}
	CF_PGDATA="$CF_TMP/data"
	CF_PGHOST="$CF_TMP/sock"
	CF_PGPORT=${CF_PGPORT:-$((20000 + RANDOM % 20000))}
	mkdir -p "$CF_PGHOST"
	chown postgres: "$CF_PGHOST"
	runuser -u postgres -- "$CF_PGBIN/initdb" -D "$CF_PGDATA" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$CF_TMP/initdb.log" 2>&1 || {
		cat "$CF_TMP/initdb.log" >&2
		return 1
	}
	runuser -u postgres -- "$CF_PGBIN/pg_ctl" -D "$CF_PGDATA" -l "$CF_TMP/server.log" -w \
		-o "-k $CF_PGHOST -p $CF_PGPORT -c listen_addresses='' -c fsync=off $opts" start >/dev/null || {
		cat "$CF_TMP/server.log" >&2
		return 1
	}
	export PGHOST="$CF_PGHOST" PGPORT="$CF_PGPORT" PGUSER=postgres
	CF_STARTED=1
}

cf_stop_cluster() {
	if [ "${CF_STARTED:-0}" = 1 ]; then
		runuser -u postgres -- "$CF_PGBIN/pg_ctl" -D "$CF_PGDATA" -m immediate -w stop >/dev/null 2>&1
		CF_STARTED=0
	fi
}

cf_cleanup() {
	cf_stop_cluster
	if [ -n "${CF_TMP:-}" ] && [ "${CF_KEEP_TMP:-0}" != 1 ]; then
		rm -rf "$CF_TMP"
	elif [ -n "${CF_TMP:-}" ]; then
		echo "kept $CF_TMP" >&2
	fi
}

# install into a private copy of the PostgreSQL tree under $CF_TMP (like
# PostgreSQL's own "make check"), so tests never touch the system install
cf_private_install() {
	CF_INSTALL="$CF_TMP/install"
	mkdir -p "$CF_INSTALL/usr/lib/postgresql" "$CF_INSTALL/usr/share/postgresql"
	cp -a /usr/lib/postgresql/15 "$CF_INSTALL/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/15 "$CF_INSTALL/usr/share/postgresql/"
	# the system's pg_config: a private tree's own (first in PATH when a script that made one runs
	# another, as run.sh runs server.sh) reports its relocated paths, which DESTDIR would nest
	make -C "$CF_ROOT" -s install DESTDIR="$CF_INSTALL" PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >/dev/null || return 1
	CF_PGBIN="$CF_INSTALL/usr/lib/postgresql/15/bin"
	export PATH="$CF_PGBIN:$PATH"
}
