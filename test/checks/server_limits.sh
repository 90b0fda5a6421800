#!/bin/bash
# test/checks/server_limits.sh: cfeast-server against clients that hold
# resources, on 127.0.0.1 (some clients connect from 127.0.0.2, another
# loopback address, to be a second client address).  Bounded in time
# (about 30 s); every server and client it starts is stopped at the end.
#
#  1. 1,000 connections each sending a request a byte a second: /health
#     still answers within 1 s, and the server runs a fixed few threads.
#  2. The per-address cap: 1,000 such connections from one address, only
#     the cap's worth kept; /health from another address answers within 1 s;
#     the whole-request deadline then closes every slow connection, whether
#     it is slow in its headers or in its body, though each keeps sending.
#  3. 50 connections each sending a body near --max-body: resident memory
#     stays under --max-inflight-bytes plus a fixed margin; those over the
#     cap get 503 with Retry-After; afterwards the cap is free again.
#  4. A busy pool (every database connection waiting on a lock) does not
#     delay /health, and requests that wait longer than the request deadline
#     are not cut (it bounds receiving a request, not running it).
#  5. With the database unreachable, 503 bodies do not show the socket path,
#     nor a 500 for a system error (58P01) the file's path (the log does).
#
# Needs PGHOST/PGPORT/PGUSER, CF_ROOT, CF_TMP, CF_PGBIN (test/run-all.sh sets
# them) and python3 (Debian's; the slow-client driver is below).
# CFEAST_SERVER_WRAPPER runs the servers under a tool, as in server.sh; the
# memory and thread figures are then the tool's and are only printed.
set -u
cd "$CF_ROOT" || exit 1
export PGOPTIONS="-c client_min_messages=warning"

DB=cfeast_check_limits
W="$CF_TMP/check-server-limits"
rm -rf "$W"
mkdir -p "$W"
PASS=0
FAIL=0
SERVER_PIDS=()
BG_PIDS=()
WRAP=${CFEAST_SERVER_WRAPPER:-}
MARGIN_MB=16				# resident memory allowed above --max-inflight-bytes

ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAILED: $*"; }
q() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

cleanup() {
	local p
	for p in "${BG_PIDS[@]}" "${SERVER_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${BG_PIDS[@]}" "${SERVER_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
}
trap cleanup EXIT

# 1,000 client sockets and the server's: raise the open-file limit if it is low
[ "$(ulimit -n)" -lt 8192 ] && { ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { bad "python3 is missing"; exit 1; }

. "$CF_ROOT/test/lib/server.sh"

stop_server() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# health PORT [SOURCE-ADDRESS]: sets HSTATUS and HTIME (seconds), HBODY
health() {
	local out
	out=$(curl -s -m 5 ${2:+--interface "$2"} -o "$W/hbody" -w '%{http_code} %{time_total}' \
		"http://127.0.0.1:$1/health")
	HSTATUS=${out% *}
	HTIME=${out#* }
	HBODY=$(cat "$W/hbody" 2>/dev/null)
}
under_1s() { awk -v t="$1" 'BEGIN { exit !(t < 1.0) }'; }

# kB of a /proc/PID/status field
proc_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

wait_file() {
	local i
	for i in $(seq 1 "$((${2:-20} * 10))"); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait for a server's start-up line with its limits
wait_limits() {
	local i
	for i in $(seq 1 100); do
		grep -q 'limits:' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# sent is not yet read: wait until no byte waits in a socket queue of the
# server's port, either side (the driver's "held" means handed to its kernel)
wait_drained() {
	local i
	for i in $(seq 1 100); do
		[ "$(ss -Htn state established "( sport = :$1 or dport = :$1 )" | awk '{ n += $1 + $2 } END { print n + 0 }')" = 0 ] &&
			{ sleep 0.1; return 0; }
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------------------------ the client driver
cat >"$W/driver.py" <<'EOF'
# slow HOST PORT N INTERVAL DURATION SRC MODE READY
#   N connections from SRC ("-": any); MODE "head": the request a byte every
#   INTERVAL s from its first byte; "body": the headers at once, then the body
#   a byte every INTERVAL s.  READY gets "alive=K" half a second after the
#   connections are made; at the end (DURATION s) prints what the server did.
# bodies HOST PORT N LENGTH READY GO
#   N POST /push with a LENGTH-byte body and "Expect: 100-continue"; sends
#   all of each body but its last byte, writes READY, waits for the file GO,
#   sends the last bytes and prints the statuses.
import os, selectors, socket, sys, time

def connect(host, port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src != "-":
        s.bind((src, 0))
    s.settimeout(5)
    s.connect((host, port))
    s.setblocking(False)
    return s

def slow(host, port, n, interval, duration, src, mode, ready):
    body = b'{"push_source_name": "x", "df": {}}'
    head = (b"POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    sel = selectors.DefaultSelector()
    conns = []
    t0 = time.monotonic()
    for i in range(n):
        s = connect(host, port, src)
        c = {"s": s, "t": time.monotonic(), "msg": head + body, "off": 0, "closed": None}
        if mode == "body":
            s.setblocking(True); s.sendall(head); s.setblocking(False)
            c["off"] = len(head)
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    connected = time.monotonic()

    def close(c, now):
        if c["closed"] is None:
            c["closed"] = now
            sel.unregister(c["s"])
            c["s"].close()

    wrote_ready = False
    next_tick = connected
    while True:
        now = time.monotonic()
        if now - connected >= duration:
            break
        if not wrote_ready and now - connected >= 0.5:
            with open(ready + ".tmp", "w") as f:
                f.write("alive=%d\n" % sum(1 for c in conns if c["closed"] is None))
            os.rename(ready + ".tmp", ready)
            wrote_ready = True
            ready_at = now
        if now >= next_tick:
            for c in conns:
                if c["closed"] is None and c["off"] < len(c["msg"]):
                    try:
                        c["s"].send(c["msg"][c["off"]:c["off"] + 1])
                        c["off"] += 1
                    except OSError:
                        close(c, now)
            next_tick += interval
        for key, _ in sel.select(timeout=min(0.05, max(0, next_tick - now))):
            c = key.data
            try:
                data = c["s"].recv(65536)
            except OSError:
                data = b""
            if not data:
                close(c, time.monotonic())
    alive = [c for c in conns if c["closed"] is None]
    early = [c for c in conns if c["closed"] is not None and c["closed"] - c["t"] < 0.5]
    late = sorted(c["closed"] - c["t"] for c in conns if c["closed"] is not None and c["closed"] - c["t"] >= 0.5)
    sent = sorted(c["off"] for c in conns)
    print("connections=%d connect_seconds=%.2f closed_at_once=%d closed_later=%d alive_at_end=%d"
          % (n, connected - t0, len(early), len(late), len(alive)))
    if late:
        print("closed_later_age_min=%.2f closed_later_age_max=%.2f" % (late[0], late[-1]))
    print("bytes_sent_min=%d bytes_sent_max=%d" % (sent[0], sent[-1]))
    for c in alive:
        c["s"].close()

def bodies(host, port, n, length, ready, go):
    prefix = b'{"push_source_name": "no_such_source", "df": {}, "pad": "'
    suffix = b'"}'
    body = prefix + b"x" * (length - len(prefix) - len(suffix)) + suffix
    head = (b"POST /push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(n):
        s = connect(host, port, "-")
        s.setblocking(True); s.sendall(head); s.setblocking(False)
        c = {"s": s, "state": "wait100", "rbuf": b"", "off": 0, "status": None, "retry": False,
             "when": None}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)

    def parse(c):
        # one complete response in rbuf: returns True when final
        while True:
            end = c["rbuf"].find(b"\r\n\r\n")
            if end < 0:
                return False
            lines = c["rbuf"][:end].decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            if status == 100:
                c["rbuf"] = c["rbuf"][end + 4:]
                c["state"] = "sending"
                sel.modify(c["s"], selectors.EVENT_READ | selectors.EVENT_WRITE, c)
                continue
            hdrs = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
            clen = int(hdrs.get("content-length", "0"))
            if len(c["rbuf"]) < end + 4 + clen:
                return False
            c["status"] = status
            c["retry"] = "retry-after" in hdrs
            c["when"] = "before the body" if c["state"] == "wait100" else "after the body"
            c["state"] = "done"
            sel.unregister(c["s"])
            c["s"].close()
            return True

    t_end = time.monotonic() + 60
    readied = False
    went = False
    while time.monotonic() < t_end and any(c["state"] != "done" for c in conns):
        if not readied and all(c["state"] in ("held", "done") for c in conns):
            with open(ready + ".tmp", "w") as f:
                f.write("held=%d answered=%d\n" % (sum(c["state"] == "held" for c in conns),
                                                  sum(c["state"] == "done" for c in conns)))
            os.rename(ready + ".tmp", ready)
            readied = True
        if readied and not went and os.path.exists(go):
            went = True
            for c in conns:
                if c["state"] == "held":
                    c["s"].setblocking(True); c["s"].sendall(body[-1:]); c["s"].setblocking(False)
                    c["state"] = "final"
        for key, ev in sel.select(timeout=0.05):
            c = key.data
            if ev & selectors.EVENT_READ:
                try:
                    data = c["s"].recv(65536)
                except OSError:
                    data = b""
                if not data:
                    c["state"] = "done"
                    c["status"] = "closed"
                    sel.unregister(c["s"])
                    c["s"].close()
                    continue
                c["rbuf"] += data
                if parse(c):
                    continue
            if ev & selectors.EVENT_WRITE and c["state"] == "sending":
                try:
                    c["off"] += c["s"].send(body[c["off"]:min(c["off"] + 262144, len(body) - 1)])
                except BlockingIOError:
                    pass
                if c["off"] == len(body) - 1:
                    c["state"] = "held"
                    sel.modify(c["s"], selectors.EVENT_READ, c)
    counts = {}
    for c in conns:
        k = "%s%s %s" % (c["status"], "+retry-after" if c["retry"] else "", c["when"] or "")
        counts[k] = counts.get(k, 0) + 1
    for k in sorted(counts):
        print("status %s: %d" % (k, counts[k]))
    print("unfinished=%d" % sum(c["state"] != "done" for c in conns))

if sys.argv[1] == "slow":
    a = sys.argv[2:]
    slow(a[0], int(a[1]), int(a[2]), float(a[3]), float(a[4]), a[5], a[6], a[7])
else:
    a = sys.argv[2:]
    bodies(a[0], int(a[1]), int(a[2]), int(a[3]), a[4], a[5])
EOF

# ------------------------------------------------------------------ set up
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null
psql -XAtq -d postgres -c "CREATE DATABASE $DB" >/dev/null || exit 1
q >/dev/null <<'EOF' || exit 1
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
CREATE TABLE driver_stats (driver_id bigint, event_timestamp timestamptz, created timestamptz,
                           conv_rate real);
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_push_source('driver_stats_push_source', 'driver_stats_source');
SELECT feast_apply_feature_view('driver_hourly_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}]', 'driver_stats_push_source');
-- a batch source that fails as a missing file does, naming a path on the database server
CREATE FUNCTION broken_stats() RETURNS SETOF driver_stats LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'could not open file "/srv/secret/stats.csv" for reading' USING ERRCODE = '58P01'; END $$;
CREATE VIEW broken_stats AS SELECT * FROM broken_stats();
SELECT feast_apply_batch_source('broken_source', 'broken_stats', 'event_timestamp', 'created');
SELECT feast_apply_feature_view('broken_view', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}]', 'broken_source');
EOF
DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
HAVE_MAT=$(q -c "SELECT to_regprocedure('feast_materialize(timestamptz,timestamptz,text[])') IS NOT NULL")
T_START=$(date +%s)

# ------------------------------------------------------------------ 1. 1,000 slow connections
start_server slow "$DSN" --pool 2 --max-connections-per-ip 0 --request-timeout 30 ||
	{ bad "server did not start"; exit 1; }
SLOW_PID=$PID
health "$PORT"
[ "$HSTATUS" = 200 ] && ok "health before the slow clients ($HTIME s)" || bad "health: $HSTATUS $HBODY"
THREADS_BEFORE=$(proc_kb "$SLOW_PID" Threads)
"$PY" "$W/driver.py" slow 127.0.0.1 "$PORT" 1000 1 5 - head "$W/slow.ready" >"$W/slow.out" 2>&1 &
DRIVER=$!
BG_PIDS+=("$DRIVER")
if wait_file "$W/slow.ready" 20; then
	ALIVE=$(sed -n 's/alive=//p' "$W/slow.ready")
	[ "$ALIVE" = 1000 ] && ok "1,000 slow connections open at once" || bad "slow connections open: $ALIVE of 1000"
	WORST=0
	for i in 1 2 3; do
		health "$PORT"
		echo "health with 1,000 slow connections open: $HSTATUS in $HTIME s"
		[ "$HSTATUS" = 200 ] || bad "health with 1,000 slow connections: status $HSTATUS $HBODY"
		WORST=$(awk -v a="$WORST" -v b="$HTIME" 'BEGIN { print (b > a ? b : a) }')
		sleep 0.5
	done
	under_1s "$WORST" && ok "health with 1,000 slow connections open answers within 1 s (worst of 3: $WORST s)" ||
		bad "health with 1,000 slow connections open took $WORST s"
	THREADS=$(proc_kb "$SLOW_PID" Threads)
	echo "server threads: $THREADS_BEFORE before, $THREADS with 1,000 connections;" \
		"resident $(($(proc_kb "$SLOW_PID" VmRSS) / 1024)) MB"
	FIG_SLOW="health beside 1,000 slow connections: worst ${WORST}s, $THREADS threads"
	[ -n "$WRAP" ] || [ "$THREADS" = "$THREADS_BEFORE" ] && ok "no thread per connection ($THREADS threads)" ||
		bad "threads grew from $THREADS_BEFORE to $THREADS"
else
	bad "the slow-client driver did not connect: $(cat "$W/slow.out")"
fi
wait "$DRIVER"
cat "$W/slow.out"
stop_server "$SLOW_PID"

# ------------------------------------------------------------------ 2. per-address cap and the whole-request deadline
start_server cap "$DSN" --pool 2 --request-timeout 2 || bad "cap server did not start"
CAP_PID=$PID
CAP=$(sed -n 's/.*per address \([0-9]*\).*/\1/p' "$W/cap.err")
echo "default per-address cap: $CAP connections"
"$PY" "$W/driver.py" slow 127.0.0.1 "$PORT" 1000 0.5 4.5 - head "$W/cap.ready" >"$W/cap.out" 2>&1 &
DRIVER=$!
BG_PIDS+=("$DRIVER")
# slow in the body: headers at once, then a byte every half second, from the second address
"$PY" "$W/driver.py" slow 127.0.0.1 "$PORT" 5 0.5 4.5 127.0.0.2 body "$W/capbody.ready" >"$W/capbody.out" 2>&1 &
DRIVER2=$!
BG_PIDS+=("$DRIVER2")
if wait_file "$W/cap.ready" 20 && wait_file "$W/capbody.ready" 20; then
	ALIVE=$(sed -n 's/alive=//p' "$W/cap.ready")
	[ "$ALIVE" = "$CAP" ] && ok "1,000 connections from one address: $ALIVE kept (the cap), the rest closed" ||
		bad "connections kept from one address: $ALIVE, cap $CAP"
	health "$PORT" 127.0.0.2
	echo "health from 127.0.0.2 while 127.0.0.1 is at its cap: $HSTATUS in $HTIME s"
	FIG_CAP="health from another address at the cap: ${HTIME}s"
	[ "$HSTATUS" = 200 ] && under_1s "$HTIME" && ok "health from another address answers within 1 s ($HTIME s)" ||
		bad "health from another address: $HSTATUS in $HTIME s"
	health "$PORT"
	echo "health from 127.0.0.1 at its cap: status $HSTATUS (refused, as the cap says)"
fi
wait "$DRIVER" "$DRIVER2"
cat "$W/cap.out" "$W/capbody.out"
AGE_MIN=$(sed -n 's/.*closed_later_age_min=\([0-9.]*\).*/\1/p' "$W/cap.out")
AGE_MAX=$(sed -n 's/.*closed_later_age_max=\([0-9.]*\).*/\1/p' "$W/cap.out")
if grep -q "closed_later=$CAP alive_at_end=0" "$W/cap.out" &&
	awk -v a="$AGE_MIN" -v b="$AGE_MAX" 'BEGIN { exit !(a >= 1.9 && b <= 3.0) }'; then
	ok "deadline: every connection slow in its headers closed at 2 s ($AGE_MIN-$AGE_MAX s) though it kept sending"
else
	bad "deadline (headers): $(cat "$W/cap.out")"
fi
AGE_MIN=$(sed -n 's/.*closed_later_age_min=\([0-9.]*\).*/\1/p' "$W/capbody.out")
AGE_MAX=$(sed -n 's/.*closed_later_age_max=\([0-9.]*\).*/\1/p' "$W/capbody.out")
if grep -q "closed_at_once=0 closed_later=5 alive_at_end=0" "$W/capbody.out" &&
	awk -v a="$AGE_MIN" -v b="$AGE_MAX" 'BEGIN { exit !(a >= 1.9 && b <= 3.0) }'; then
	ok "deadline: every connection slow in its body closed at 2 s ($AGE_MIN-$AGE_MAX s)"
else
	bad "deadline (body): $(cat "$W/capbody.out")"
fi
grep -q "closed .* connections that did not send a whole request within 2000 ms" "$W/cap.err" &&
	ok "deadline closures logged" || bad "deadline log: $(tail -5 "$W/cap.err")"
health "$PORT"
[ "$HSTATUS" = 200 ] && ok "127.0.0.1 is served again once its slow connections are closed" ||
	bad "health from 127.0.0.1 after the deadline: $HSTATUS"
stop_server "$CAP_PID"
# the cap with one HTTP loop (libmicrohttpd's own count) and with three (counted across the loops)
for t in 1 3; do
	start_server "cap$t" "$DSN" --pool 2 --threads $t --max-connections-per-ip 6 --request-timeout 5 ||
		bad "--threads $t: server did not start"
	"$PY" "$W/driver.py" slow 127.0.0.1 "$PORT" 40 0.5 1 - head "$W/cap$t.ready" >"$W/cap$t.out" 2>&1
	ALIVE=$(sed -n 's/alive=//p' "$W/cap$t.ready")
	[ "$ALIVE" = 6 ] && ok "--threads $t: 40 connections from one address, 6 kept (the cap)" ||
		bad "--threads $t: $ALIVE of 40 connections kept, cap 6"
	health "$PORT"
	[ "$HSTATUS" = 200 ] && ok "--threads $t: the address is served again once they closed" ||
		bad "--threads $t: health after the slow connections closed: $HSTATUS"
	stop_server "$PID"
done

# ------------------------------------------------------------------ 3. bodies near --max-body, buffered bytes capped
MAXBODY_MB=4
INFLIGHT_MB=32
start_server mem "$DSN" --pool 2 --max-body ${MAXBODY_MB}M --max-inflight-bytes ${INFLIGHT_MB}M \
	--request-timeout 30 || bad "memory server did not start"
MEM_PID=$PID
health "$PORT"
RSS0=$(proc_kb "$MEM_PID" VmRSS)
LEN=$((MAXBODY_MB * 1048576 - 1000))
"$PY" "$W/driver.py" bodies 127.0.0.1 "$PORT" 50 "$LEN" "$W/mem.ready" "$W/mem.go" >"$W/mem.out" 2>&1 &
DRIVER=$!
BG_PIDS+=("$DRIVER")
if wait_file "$W/mem.ready" 30; then
	wait_drained "$PORT"
	RSS=$(proc_kb "$MEM_PID" VmRSS)
	HWM=$(proc_kb "$MEM_PID" VmHWM)
	LIMIT=$(((INFLIGHT_MB + MARGIN_MB) * 1024))
	FIG_MEM="50 x 4 MB bodies, cap ${INFLIGHT_MB} MB: peak resident $((HWM / 1024)) MB (from $((RSS0 / 1024)) MB)"
	echo "50 bodies of $LEN bytes, cap ${INFLIGHT_MB} MB: $(cat "$W/mem.ready")"
	echo "resident: $((RSS0 / 1024)) MB before, $((RSS / 1024)) MB with every body in, peak $((HWM / 1024)) MB; limit ${INFLIGHT_MB}+${MARGIN_MB} MB (without the cap: 50 x $MAXBODY_MB MB)"
	[ -n "$WRAP" ] || [ "$HWM" -le "$LIMIT" ] && ok "resident memory peak $((HWM / 1024)) MB <= cap + margin ($((LIMIT / 1024)) MB)" ||
		bad "resident memory peak $((HWM / 1024)) MB over cap + margin ($((LIMIT / 1024)) MB)"
	health "$PORT"
	[ "$HSTATUS" = 200 ] && under_1s "$HTIME" && ok "health answers while the cap bites ($HTIME s)" ||
		bad "health while the cap bites: $HSTATUS in $HTIME s"
	touch "$W/mem.go"
else
	bad "the body driver did not get ready: $(cat "$W/mem.out")"
fi
wait "$DRIVER"
cat "$W/mem.out"
N503=$(awk '/^status 503\+retry-after/ { n += $NF } END { print n + 0 }' "$W/mem.out")
NOK=$(awk '/^status 422 / { n += $NF } END { print n + 0 }' "$W/mem.out")
OTHER=$(grep '^status ' "$W/mem.out" | grep -v '^status 503+retry-after\|^status 422 ' | awk '{ n += $NF } END { print n + 0 }')
[ $((N503 + NOK)) = 50 ] && [ "$OTHER" = 0 ] && ok "every body answered: $NOK handled (422, unknown source), $N503 got 503 with Retry-After" ||
	bad "body answers: $(grep -c . "$W/mem.out") lines: $(cat "$W/mem.out")"
[ "$NOK" -ge 1 ] && [ "$NOK" -le $((INFLIGHT_MB / MAXBODY_MB)) ] && ok "at most cap / body size ($((INFLIGHT_MB / MAXBODY_MB))) bodies buffered and handled: $NOK" ||
	bad "bodies handled: $NOK, at most $((INFLIGHT_MB / MAXBODY_MB)) fit"
# handling a body takes memory too (the parsed JSON, libpq's copy of the parameter):
# at most the pool's number of bodies at once, about 3 x --max-body each
HWM=$(proc_kb "$MEM_PID" VmHWM)
LIMIT=$(((INFLIGHT_MB + MARGIN_MB + 2 * 3 * MAXBODY_MB) * 1024))
echo "resident after handling them: $(($(proc_kb "$MEM_PID" VmRSS) / 1024)) MB, peak $((HWM / 1024)) MB"
[ -n "$WRAP" ] || [ "$HWM" -le "$LIMIT" ] && ok "peak with the handlers at work $((HWM / 1024)) MB <= cap + margin + pool x 3 x max body ($((LIMIT / 1024)) MB)" ||
	bad "peak with the handlers at work $((HWM / 1024)) MB over $((LIMIT / 1024)) MB"
# the cap is free again: one more body near --max-body is taken
head -c $((LEN - 2)) /dev/zero | tr '\0' 'x' | sed 's/^/{"push_source_name": "no_such_source", "df": {}, "pad": "/; s/$/"}/' >"$W/one.json"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$W/one.json" \
	"http://127.0.0.1:$PORT/push")
[ "$STATUS" = 422 ] && ok "after the burst, a body near --max-body is taken again (422 from the handler)" ||
	bad "body after the burst: $STATUS"
# 8 bodies held fill the cap to within 8 kB: a 9th is refused before its body
# is read (Content-Length), a chunked one as soon as it needs a buffer
"$PY" "$W/driver.py" bodies 127.0.0.1 "$PORT" 8 "$LEN" "$W/mem8.ready" "$W/mem8.go" >"$W/mem8.out" 2>&1 &
DRIVER=$!
BG_PIDS+=("$DRIVER")
if wait_file "$W/mem8.ready" 30 && grep -q "held=8" "$W/mem8.ready" && wait_drained "$PORT"; then
	STATUS=$(curl -s -o /dev/null -D "$W/h9" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "@$W/one.json" "http://127.0.0.1:$PORT/push")
	[ "$STATUS" = 503 ] && grep -qi '^Retry-After: 1' "$W/h9" &&
		ok "cap full: a 9th body gets 503 with Retry-After before it is sent" || bad "9th body: $STATUS $(cat "$W/h9")"
	head -c 65536 "$W/one.json" >"$W/chunk.json"
	printf '"}' >>"$W/chunk.json"
	STATUS=$(curl -s -o /dev/null -D "$W/hc" -w '%{http_code}' -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$W/chunk.json" "http://127.0.0.1:$PORT/push")
	[ "$STATUS" = 503 ] && grep -qi '^Retry-After: 1' "$W/hc" &&
		ok "cap full: a chunked body gets 503 with Retry-After" || bad "chunked body: $STATUS $(cat "$W/hc")"
else
	bad "8 bodies not held: $(cat "$W/mem8.ready" "$W/mem8.out" 2>/dev/null)"
fi
touch "$W/mem8.go"
wait "$DRIVER"
grep -q "^status 422 after the body: 8$" "$W/mem8.out" && ok "the 8 held bodies are handled (422)" ||
	bad "8 held bodies: $(cat "$W/mem8.out")"
grep -q '"POST /push" 503 65538 ' "$W/mem.access" && ok "access log: the chunked body counted, 503" ||
	bad "access log for the chunked body: $(grep '" 503 ' "$W/mem.access" | tail -2)"
stop_server "$MEM_PID"

# ------------------------------------------------------------------ 4. a busy pool does not delay /health
# (the deadline is 1 s: it bounds receiving a request, not running it)
start_server busy "$DSN" --pool 1 --request-timeout 1 || bad "busy server did not start"
BUSY_PID=$PID
psql -XAtq -d "$DB" -c "BEGIN; LOCK TABLE feast_online.driver_hourly_stats; SELECT pg_sleep(3); COMMIT;" >/dev/null &
LOCKER=$!
BG_PIDS+=("$LOCKER")
for i in $(seq 1 50); do
	[ "$(q -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'driver_hourly_stats' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ] && break
	sleep 0.05
done
PUSH='{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1], "event_timestamp": ["2024-01-01T00:00:00Z"], "conv_rate": [0.5]}}'
: >"$W/busy.statuses"
for i in 1 2 3; do
	curl -s -o /dev/null -w '%{http_code}\n' --data-binary "$PUSH" "http://127.0.0.1:$PORT/push" >>"$W/busy.statuses" &
	BG_PIDS+=($!)
done
for i in $(seq 1 50); do
	[ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cfeast-server' AND wait_event_type = 'Lock'")" -ge 1 ] && break
	sleep 0.05
done
health "$PORT"
echo "health with the pool's only connection waiting on a lock and 2 pushes queued: $HSTATUS in $HTIME s"
[ "$HSTATUS" = 200 ] && under_1s "$HTIME" && ok "health does not wait for a busy pool ($HTIME s)" ||
	bad "health with a busy pool: $HSTATUS in $HTIME s"
wait "$LOCKER"
for i in $(seq 1 50); do
	[ "$(grep -c . "$W/busy.statuses")" = 3 ] && break
	sleep 0.1
done
[ "$(grep -c '^200$' "$W/busy.statuses")" = 3 ] &&
	ok "the queued pushes ran once the lock went, 3 s, past the 1 s request deadline (3 x 200)" ||
	bad "queued pushes: $(tr '\n' ' ' <"$W/busy.statuses")"
# a system error's message names a file on the database server: logged, not sent
STATUS=$(curl -s -o "$W/broken.body" -w '%{http_code}' --data-binary \
	'{"start_ts": "2024-01-01T00:00:00Z", "end_ts": "2024-02-01T00:00:00Z", "feature_views": ["broken_view"]}' \
	"http://127.0.0.1:$PORT/materialize")
if [ "$HAVE_MAT" = t ]; then
	[ "$STATUS" = 500 ] && grep -q '"sqlstate":"58P01"' "$W/broken.body" && ! grep -q '/srv/secret' "$W/broken.body" &&
		ok "a system error (58P01) answers 500 without the file's path: $(cat "$W/broken.body")" ||
		bad "system error: $STATUS $(cat "$W/broken.body")"
	grep -q 'database error 58P01: could not open file "/srv/secret/stats.csv"' "$W/busy.err" &&
		ok "the log has the system error's message" || bad "log lacks the system error: $(cat "$W/busy.err")"
fi
stop_server "$BUSY_PID"

# ------------------------------------------------------------------ 5. no socket path in 503 bodies
# nothing listens on port 1 in the cluster's socket directory: the database is unreachable
start_server down "host=$PGHOST port=1 user=$PGUSER dbname=$DB" --pool 1 || bad "down server did not start"
DOWN_PID=$PID
health "$PORT"
[ "$HSTATUS" = 503 ] && printf '%s' "$HBODY" | grep -q '"sqlstate":"08001"' &&
	ok "health, database unreachable: 503, SQLSTATE 08001" || bad "health, database down: $HSTATUS $HBODY"
STATUS=$(curl -s -o "$W/down.body" -w '%{http_code}' --data-binary "$PUSH" "http://127.0.0.1:$PORT/push")
for f in "$W/hbody" "$W/down.body"; do
	if grep -qF -e "$PGHOST" -e ".s.PGSQL" -e "port=" "$f"; then
		bad "a 503 body shows the connection: $(cat "$f")"
	else
		ok "503 body without socket path or connection string: $(cat "$f")"
	fi
done
[ "$STATUS" = 503 ] || bad "push, database down: $STATUS"
grep -qF "$PGHOST/.s.PGSQL.1" "$W/down.err" && ok "the log has the connection failure's detail" ||
	bad "log lacks the detail: $(cat "$W/down.err")"
stop_server "$DOWN_PID"
if [ -n "$WRAP" ]; then
	echo "wrapper's summaries:"
	grep -h "ERROR SUMMARY\|definitely lost" "$W"/*.err
fi

# ------------------------------------------------------------------ 6. the settings: environment, flags, bad values
CFEAST_DSN="$DSN" CFEAST_LISTEN=127.0.0.1:0 CFEAST_THREADS=3 CFEAST_REQUEST_TIMEOUT=2.5 \
	CFEAST_MAX_INFLIGHT_BYTES=64M CFEAST_MAX_CONNECTIONS=500 CFEAST_MAX_CONNECTIONS_PER_IP=9 \
	./cfeast-server --max-connections-per-ip 0 >"$W/env.access" 2>"$W/env.err" &
ENV_PID=$!
SERVER_PIDS+=("$ENV_PID")
wait_limits "$W/env.err"
grep -q 'limits: 3 HTTP threads, request timeout 2500 ms, max inflight 67108864 bytes, max connections 500, per address 0 (no cap)' "$W/env.err" &&
	ok "CFEAST_THREADS, _REQUEST_TIMEOUT, _MAX_INFLIGHT_BYTES, _MAX_CONNECTIONS taken; a flag wins over _MAX_CONNECTIONS_PER_IP" ||
	bad "settings from the environment: $(cat "$W/env.err")"
stop_server "$ENV_PID"
./cfeast-server --listen 127.0.0.1:0 >/dev/null 2>"$W/defaults.err" &
ENV_PID=$!
SERVER_PIDS+=("$ENV_PID")
wait_limits "$W/defaults.err"
stop_server "$ENV_PID"
# the default threads: one per two CPUs, at least one
DEF_THREADS=$(($(nproc) >= 4 ? $(nproc) / 2 : 1))
grep -q "limits: $DEF_THREADS HTTP threads, request timeout 10000 ms, max inflight 134217728 bytes, max connections 4096, per address 128, push batch 64\$" "$W/defaults.err" &&
	ok "defaults: $DEF_THREADS threads on $(nproc) CPUs, 10 s, 128 MB in flight, 4096 connections, 128 per address, push batch 64" ||
	bad "defaults: $(cat "$W/defaults.err")"
# a --max-body over half the default cap raises the default cap to twice it
./cfeast-server --listen 127.0.0.1:0 --max-body 100M >/dev/null 2>"$W/bigbody.err" &
ENV_PID=$!
SERVER_PIDS+=("$ENV_PID")
wait_limits "$W/bigbody.err"
stop_server "$ENV_PID"
grep -q 'max inflight 209715200 bytes' "$W/bigbody.err" && ok "--max-body 100M: the default cap becomes 200 MB" ||
	bad "--max-body 100M: $(cat "$W/bigbody.err")"
for args in "--max-body 16M --max-inflight-bytes 8M" "--request-timeout 0" "--request-timeout soon" \
	"--threads 0" "--max-connections-per-ip -1" "--max-connections 0"; do
	# shellcheck disable=SC2086
	./cfeast-server --listen 127.0.0.1:0 $args >/dev/null 2>"$W/badarg.err"
	rc=$?
	[ $rc = 2 ] && grep -q "must be" "$W/badarg.err" && ok "refused at start: $args ($(head -1 "$W/badarg.err"))" ||
		bad "$args: exit $rc, $(cat "$W/badarg.err")"
done
SERVER_PIDS=()
BG_PIDS=()

echo "server limits check: $((($(date +%s) - T_START))) s; ${FIG_SLOW:-}; ${FIG_CAP:-}; ${FIG_MEM:-}"
echo "server limits check: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
