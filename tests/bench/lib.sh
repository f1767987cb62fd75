# tests/bench/lib.sh — helpers shared by bench.sh and profile.sh (source it).
# Servers started here listen on 127.0.0.1 only and are stopped on exit.
set -u
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/../.." && pwd)"
BUILD="${BUILD:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
RESEND="$BUILD/ottu-resend"
MOCK="$BUILD/ottu-mock"
# Generated inputs, journals and results go to a private temp dir, never into the tree.
T="$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ottu-bench.XXXXXX")"
chmod 755 "$T" # nginx's worker may run as another user when started by root
BG_PIDS=()
bench_cleanup() {
  local p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -n "${BENCH_KEEP:-}" ] && { echo "bench: kept $T" >&2; return; }
  rm -rf "$T"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
export OTTU_API_KEY=bench-key
unset OTTU_BASE_URL

# ensure_pkg CMD PKG...: installs the first Debian package that provides CMD when CMD is missing.
ensure_pkg() {
  local cmd="$1" p sudo=""
  shift
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "$cmd" ] && return 0
  command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq >/dev/null 2>&1
    APT_UPDATED=1
  fi
  for p in "$@"; do
    echo "bench: installing $p" >&2
    $sudo apt-get install -y -qq "$p" >/dev/null 2>&1 && return 0
  done
  return 1
}

nginx_bin() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }

# gen_rows N PREFIX FILE: order_no,channels with N distinct order numbers, channels cycling.
gen_rows() {
  awk -v n="$1" -v p="$2" 'BEGIN {
    split("sms email whatsapp", ch, " ")
    print "order_no,channels"
    for (i = 1; i <= n; i++) printf "%s-%08d,%s\n", p, i, ch[(i % 3) + 1]
  }' >"$3"
}

# port_in_use PORT
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_nginx: a zero-latency server on a free loopback port; sets NGINX_URL, NGINX_PID.
start_nginx() {
  local bin dir port try i
  bin="$(nginx_bin)" || return 1
  dir="$T/nginx"
  mkdir -p "$dir"
  for try in $(seq 1 20); do
    port=$(( (RANDOM * 32768 + RANDOM) % 30000 + 20000 ))
    port_in_use "$port" && continue
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" "$BENCH_DIR/nginx.conf.in" >"$dir/nginx.conf"
    : >"$dir/error.log"
    "$bin" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    NGINX_PID=$!
    for i in $(seq 1 100); do
      if ! kill -0 "$NGINX_PID" 2>/dev/null; then break; fi
      if curl -s -o /dev/null -X POST -d '{}' "http://127.0.0.1:$port/b/pbl/v2/message-notification/" 2>/dev/null; then
        BG_PIDS+=("$NGINX_PID")
        NGINX_URL="http://127.0.0.1:$port"
        return 0
      fi
      sleep 0.05
    done
    kill "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
  done
  echo "bench: nginx did not start: $(tail -3 "$dir/error.log" "$dir/stdout" 2>/dev/null)" >&2
  return 1
}

# start_mock [options...]: ottu-mock on a free port; sets MOCK_URL, MOCK_PID.
start_mock() {
  local out="$T/mock.$RANDOM.out" i
  "$MOCK" --port 0 --api-key "$OTTU_API_KEY" "$@" >"$out" 2>"$out.err" &
  MOCK_PID=$!
  BG_PIDS+=("$MOCK_PID")
  for i in $(seq 1 100); do
    if grep -q '^listening on ' "$out" 2>/dev/null; then
      MOCK_URL=$(head -1 "$out" | sed 's/^listening on //')
      return 0
    fi
    sleep 0.05
  done
  echo "bench: ottu-mock did not start: $(cat "$out.err")" >&2
  return 1
}

stop_pid() {
  local p keep=()
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  for p in "${BG_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  BG_PIDS=("${keep[@]}")
  true
}

# server_ticks PID: CPU clock ticks (user+system) used so far by PID and its child processes
# (nginx: master + worker). 0 when unknown.
server_ticks() {
  local total=0 p f top="$1"
  for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
    f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    set -- $f
    total=$((total + ${12} + ${13}))
    # children that exited and were reaped (a PostgreSQL backend ends with its client)
    [ "$p" = "$top" ] && total=$((total + ${14} + ${15}))
  done
  echo "$total"
}

# start_nginx_tls UPSTREAM: HTTPS nginx on two free loopback ports with a temporary
# self-signed certificate for 127.0.0.1 — one answering at once, one forwarding to UPSTREAM
# (host:port). Sets TLS_URL, TLS_LAT_URL, TLS_PID, TLS_CERT and TLS_BUNDLE (the system's CA
# bundle with the certificate appended: a system-sized trust store for --cacert).
start_nginx_tls() {
  local bin dir port lport try i
  bin="$(nginx_bin)" || return 1
  dir="$T/nginx-tls"
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1 || return 1
  TLS_CERT="$dir/cert.pem"
  TLS_BUNDLE="$dir/bundle.pem"
  cat /etc/ssl/certs/ca-certificates.crt "$TLS_CERT" >"$TLS_BUNDLE"
  for try in $(seq 1 20); do
    port=$(( (RANDOM * 32768 + RANDOM) % 30000 + 20000 ))
    lport=$((port + 1))
    port_in_use "$port" && continue
    port_in_use "$lport" && continue
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@LATPORT@|$lport|g" -e "s|@UPSTREAM@|$1|g" \
        -e "s|@CERT@|$dir/cert.pem|g" -e "s|@KEY@|$dir/key.pem|g" "$BENCH_DIR/nginx-tls.conf.in" >"$dir/nginx.conf"
    : >"$dir/error.log"
    "$bin" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    TLS_PID=$!
    for i in $(seq 1 100); do
      if ! kill -0 "$TLS_PID" 2>/dev/null; then break; fi
      if curl -s -o /dev/null --cacert "$TLS_CERT" -X POST -d '{}' "https://127.0.0.1:$port/b/pbl/v2/message-notification/" 2>/dev/null; then
        BG_PIDS+=("$TLS_PID")
        TLS_URL="https://127.0.0.1:$port"
        TLS_LAT_URL="https://127.0.0.1:$lport"
        return 0
      fi
      sleep 0.05
    done
    kill "$TLS_PID" 2>/dev/null
    wait "$TLS_PID" 2>/dev/null
  done
  echo "bench: HTTPS nginx did not start: $(tail -3 "$dir/error.log" "$dir/stdout" 2>/dev/null)" >&2
  return 1
}

# start_pg: a PostgreSQL server for the ledger row, in $T/pg on a free loopback port
# (initdb as the postgres user when run as root: initdb refuses root). Default settings,
# fsync on: a claim waits for the disk, as with SQLite's synchronous=FULL. Sets PG_URI,
# PG_PID (the postmaster, for its CPU), PG_STOP (the command that stops it). Returns 1
# (the row is skipped) without PostgreSQL's server binaries.
start_pg() {
  local bin port data pg_as=()
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$bin" ] && [ -x "$bin/initdb" ] || return 1
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || return 1
    pg_as=(runuser -u postgres --)
  fi
  mkdir -p "$T/pg" && chmod 0755 "$T/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$T/pg"
  data="$T/pg/data"
  (cd / && "${pg_as[@]}" "$bin/initdb" -D "$data" -A trust -U postgres >"$T/pg/initdb.log" 2>&1) || return 1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd / && "${pg_as[@]}" "$bin/pg_ctl" -D "$data" -l "$T/pg/server.log" -w -t 60 \
     -o "-p $port -k $T/pg -c listen_addresses=127.0.0.1" start >/dev/null) || return 1
  PG_PID=$(head -1 "$data/postmaster.pid")
  PG_URI="postgresql://postgres@127.0.0.1:$port/postgres"
  PG_BIN="$bin"
  PG_STOP="cd / && ${pg_as[*]} $bin/pg_ctl -D $data -m fast stop"
  return 0
}
stop_pg() { [ -n "${PG_STOP:-}" ] && bash -c "$PG_STOP" >/dev/null 2>&1; PG_STOP=""; }
