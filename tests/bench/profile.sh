#!/usr/bin/env bash
# tests/bench/profile.sh [ROWS] — profiles ottu-resend -j 8 -r 0 against the bench's nginx
# (zero-latency, 127.0.0.1): syscalls and context switches per row (perf stat), where the CPU
# goes (perf record --call-graph dwarf, folded into pipeline stages by profile-fold.py), and,
# with PROFILE_CALLGRIND=1, an instruction profile of a 20k-row run (valgrind callgrind).
# Not part of `make bench` (perf needs root or perf_event_paranoid <= 1). Default 100000 rows.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROWS="${1:-100000}"
J="${PROFILE_J:-8}"

ensure_pkg nginx nginx-light nginx || { echo "profile: no nginx" >&2; exit 1; }
ensure_pkg perf linux-perf || { echo "profile: no perf" >&2; exit 1; }
ensure_pkg python3 python3 || { echo "profile: no python3" >&2; exit 1; }
[ -x "$RESEND" ] || { echo "profile: build first: make" >&2; exit 1; }
start_nginx || exit 1
gen_rows "$ROWS" ORD "$T/in.csv"
# A private copy: perf resolves symbols from the file on disk after the run, and a
# concurrent rebuild of build/ottu-resend would garble them.
cp "$RESEND" "$T/ottu-resend"
run() { rm -f "$T/out.csv" "$T/out.csv.journal"; "$@" "$T/ottu-resend" --base-url "$NGINX_URL" -q --progress never \
          -j "$J" -r 0 -o "$T/out.csv" "$T/in.csv"; }

echo "== syscalls and context switches per row (-j $J, $ROWS rows, nginx) =="
ev="context-switches,cpu-migrations"
for s in futex poll write sendto recvfrom fdatasync; do
  perf list 2>/dev/null | grep -q "syscalls:sys_enter_$s " && ev="$ev,syscalls:sys_enter_$s"
done
perf list 2>/dev/null | grep -q 'raw_syscalls:sys_enter ' && ev="raw_syscalls:sys_enter,$ev"
run perf stat -x, -e "$ev" -o "$T/stat.csv"
awk -F, -v n="$ROWS" '$1 ~ /^[0-9]+$/ { printf "  %-32s %12d  %6.2f per row\n", $3, $1, $1 / n }' "$T/stat.csv"

echo
echo "== perf record -g (dwarf), -j $J, $ROWS rows =="
run perf record -q -F 1999 --call-graph dwarf,16384 -o "$T/perf.data" 2>/dev/null
echo "-- by shared object (self) --"
perf report -i "$T/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep '%' | head -10
echo "-- top symbols (self) --"
perf report -i "$T/perf.data" --stdio --no-children --sort dso,sym -g none 2>/dev/null | grep '%' | head -25
echo "-- by pipeline stage --"
perf script -i "$T/perf.data" -F comm,tid,ip,sym 2>/dev/null >"$T/perf.script"
python3 "$BENCH_DIR/profile-fold.py" "$T/perf.script"

if [ -n "${PROFILE_CALLGRIND:-}" ]; then
  ensure_pkg valgrind valgrind || exit 0
  echo
  echo "== valgrind --tool=callgrind, 20k rows (instructions; user space only) =="
  gen_rows 20000 CG "$T/in.csv"
  run valgrind -q --tool=callgrind --callgrind-out-file="$T/cg.out" --separate-threads=no
  callgrind_annotate --inclusive=yes "$T/cg.out" 2>/dev/null | sed -n '1,40p'
fi
