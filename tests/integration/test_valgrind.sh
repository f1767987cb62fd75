# Valgrind on a representative run: a sending job with retries, failures file, workbook,
# summary and ledger, and a template dry run. No leaks, no invalid accesses.
source "$(dirname "$0")/../lib.sh"
plan 4
case "$BUILD" in *asan*|*tsan*) skip 4 "valgrind cannot run sanitizer builds"; exit 0 ;; esac
if ! command -v valgrind >/dev/null; then
  skip 4 "valgrind is not installed (tests/deps.sh installs it)"
  exit 0
fi
cp "$ROOT/samples/outage-recovery.csv" "$T/in.csv"
start_mock --fail-rate 0.2 --seed 2 --latency-ms 1; new_ledger
VG="valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
$VG "$RESEND" --base-url "$MOCK_URL" -j 4 -r 0 --backoff-base-ms 5 -q "$T/in.csv" --failures "$T/f.csv" \
  --xlsx "$T/o.xlsx" --summary-json "$T/s.json" --ledger "$T/l.db" 2>"$T/vg1.txt"
rc=$?
check "sending job under valgrind: clean (exit $rc)" [ $rc -ne 99 ]
check "sending job under valgrind: 0 errors" grep -q 'ERROR SUMMARY: 0 errors' "$T/vg1.txt"
$VG "$RESEND" --dry-run -q "$ROOT/samples/template-campaign.csv" -o "$T/t.csv" 2>"$T/vg2.txt"
check "template dry run under valgrind: 0 errors" grep -q 'ERROR SUMMARY: 0 errors' "$T/vg2.txt"
$VG "$RESEND" --dry-run -q "$ROOT/samples/spreadsheet-export.csv" -o "$T/x.csv" 2>"$T/vg3.txt"
check "spreadsheet export under valgrind: 0 errors" grep -q 'ERROR SUMMARY: 0 errors' "$T/vg3.txt"
