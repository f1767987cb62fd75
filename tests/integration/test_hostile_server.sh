# Hostile answers: a huge body, invalid JSON, a wrong content type with escape sequences,
# a connection reset mid-body, a redirect elsewhere, a server that never answers. Each row
# gets a clear outcome; nothing crashes, hangs or follows the redirect. An answer that
# does not prove the API did nothing (2xx without a confirmation, 502, a reset or a
# time-out after the request went out) is unknown and never retried (issue 15).
# The server answers POSTs only: --no-preflight.
source "$(dirname "$0")/../lib.sh"
plan 11
python3 "$ROOT/tests/hostile/server.py" 60 >"$T/port" &
MOCK_PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$T/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(head -1 "$T/port")"
# The peak memory of the same run without the huge answer, in this build (a sanitizer's
# own overhead cancels out): reading the 8 MB answer would add at least 8 MB to it. (Under
# ASan, freed memory waits in a quarantine and is never reused: turn it off for both runs,
# or every discarded chunk of the answer would count.)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
printf 'order_no,channels\nOK1,sms\nBADJSON1,sms\nHTML1,sms\nOK2,sms\n' >"$T/base.csv"
/usr/bin/time -f '%M' -o "$T/rss.base" timeout 60 "$RESEND" --base-url "$url" --no-ledger --no-preflight -j 4 -r 0 --timeout 1 \
  --max-attempts 2 --backoff-base-ms 10 --progress never -q "$T/base.csv" -o "$T/base.out.csv" 2>/dev/null
printf 'order_no,channels\nOK1,sms\nHUGE1,sms\nBADJSON1,sms\nHTML1,sms\nRESET1,sms\nREDIRECT1,sms\nHANG1,sms\nOK2,sms\n' >"$T/in.csv"
/usr/bin/time -f '%M' -o "$T/rss" timeout 60 "$RESEND" --base-url "$url" --no-preflight -j 4 -r 0 --timeout 1 --max-attempts 2 \
  --backoff-base-ms 10 --progress never -q "$T/in.csv" -o "$T/out.csv" 2>"$T/err"
rc=$?
check_eq "hostile server: exit 1 (some rows failed), no crash or hang" 1 $rc
check_eq "hostile server: every row once, in order" "OK1 HUGE1 BADJSON1 HTML1 RESET1 REDIRECT1 HANG1 OK2" \
  "$(col "$T/out.csv" order_no | tr '\n' ' ' | sed 's/ $//')"
check_eq "hostile server: statuses" "sent unknown unknown unknown unknown failed unknown sent" \
  "$(col "$T/out.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
col "$T/out.csv" result_detail >"$T/details"
check "huge body: what is read is capped (detail under 1 KB)" [ "$(sed -n 2p "$T/details" | wc -c)" -lt 1024 ]
rss=$(tail -1 "$T/rss") base=$(tail -1 "$T/rss.base")
case "$BUILD" in
  *tsan*) skip 1 "huge body: memory not compared under TSan (its allocator and shadow make peaks incomparable; the normal and ASan runs check it)" ;;
  *) check "huge body: memory stayed small (peak $rss KB, $base KB without it: less than 4 MB more)" \
       [ "$rss" -gt 0 -a "$base" -gt 0 -a $((rss - base)) -lt 4096 ] ;;
esac
check "html 502: unknown with the status, not retried" grep -q 'HTTP 502 after the request was sent' <(sed -n 4p "$T/details")
check_eq "lost answers: one attempt each (huge, bad JSON, 502, reset, hang)" "1 1 1 1 1" \
  "$(col "$T/out.csv" result_attempts | sed -n '2p;3p;4p;5p;7p' | tr '\n' ' ' | sed 's/ $//')"
check "escape sequences from the server never reach the result or stderr" bash -c "! grep -q $'\x1b' '$T/out.csv' '$T/err'"
check "reset mid-body: may have been sent, said so" grep -qi 'may have been' <(sed -n 5p "$T/details")
check_eq "redirect: not followed, failed with 302" "302 1" "$(col "$T/out.csv" result_http_status | sed -n 6p) $(col "$T/out.csv" result_attempts | sed -n 6p)"
check "never answers: timed out" grep -qi 'timeout\|timed out' <(sed -n 7p "$T/details")
