# test/lib/server.sh: starting cfeast-server for the scripted checks (sourced by
# test/checks/server.sh and server_limits.sh).  Expects W (a scratch directory),
# WRAP (a command to run the server under, or empty) and the array SERVER_PIDS.

# start_server NAME DSN [flags...]: runs it on 127.0.0.1:0, sets PORT and PID
start_server() {
	local name=$1 dsn=$2 i
	shift 2
	rm -f "$W/$name.access" "$W/$name.err"
	# shellcheck disable=SC2086
	$WRAP ./cfeast-server --dsn "$dsn" --listen 127.0.0.1:0 "$@" >"$W/$name.access" 2>"$W/$name.err" &
	PID=$!
	SERVER_PIDS+=("$PID")
	PORT=
	# up to 30 s: under valgrind the start is slow
	for i in $(seq 1 300); do
		PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$W/$name.err" 2>/dev/null)
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$W/$name.err"
	return 1
}
