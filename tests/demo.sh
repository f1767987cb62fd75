#!/usr/bin/env bash
# make demo: starts ottu-mock on loopback, rehearses a real job end to end (an outage
# recovery list, with a few injected 503s), and says where the results are.
set -eu
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"
out="$BUILD/demo"
mkdir -p "$out"
rm -f "$out"/*.csv "$out"/*.journal "$out"/*.xlsx "$out"/*.json "$out"/*.partial "$out"/*.lock "$out"/ledger.db*
log="$out/mock.log"
"$BUILD/ottu-mock" --port 0 --transactions samples/transactions.csv --deliveries "$out/deliveries.csv" \
    --latency-ms 20 --jitter-ms 20 --fail-rate 0.1 --seed 42 >"$log" 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null; wait $mock 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q '^listening on ' "$log" && break; sleep 0.05; done
url=$(head -1 "$log" | sed 's/^listening on //')
echo "ottu-mock (a local stand-in for the Ottu API) is listening on $url"
echo
cp samples/outage-recovery.csv "$out/outage-recovery.csv"
set +e
OTTU_API_KEY=test-key "$BUILD/ottu-resend" --base-url "$url" -j 8 -r 50 --backoff-base-ms 50 \
    --progress never --failures "$out/outage-recovery.failures.csv" --xlsx "$out/outage-recovery.xlsx" \
    --summary-json "$out/summary.json" --ledger "$out/ledger.db" "$out/outage-recovery.csv"
rc=$?
set -e
echo
echo "exit status $rc (1 = some rows failed: see the failures file; the mock refuses channels a"
echo "transaction has not enabled in its state, as the real API does)"
echo "results:     $out/outage-recovery.results.csv"
echo "failures:    $out/outage-recovery.failures.csv (feed it back in after fixing)"
echo "workbook:    $out/outage-recovery.xlsx"
echo "summary:     $out/summary.json"
echo "deliveries:  $out/deliveries.csv (what the mock 'delivered')"
echo "ledger:      $out/ledger.db (a demo ledger: yours stays untouched; try: $BUILD/ottu-resend ledger stats $out/ledger.db)"
echo
echo "first rows of the results:"
head -5 "$out/outage-recovery.results.csv"
