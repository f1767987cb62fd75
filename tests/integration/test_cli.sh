# The foundation without a network: reading, validation, ordered results, dry run,
# csv-spectrum round trip, hostile input, exit codes.
source "$(dirname "$0")/../lib.sh"
plan 87

# csv-spectrum: each case gets an order_no column added (python's csv writer, keeping the
# original line ends); every record must come back unchanged in the result CSV.
for f in "$DATA"/csv-spectrum/*.csv; do
  name=$(basename "$f" .csv)
  python3 - "$f" "${f%.csv}.json" "$T/$name.in.csv" <<'PY'
import csv, json, sys
src, exp, dst = sys.argv[1:]
raw = open(src, 'rb').read()
eol = '\r\n' if b'\r\n' in raw else '\n'
recs = json.load(open(exp))
cols = list(recs[0].keys()) if recs else next(csv.reader(open(src, newline='')))
with open(dst, 'w', newline='') as o:
    w = csv.writer(o, lineterminator=eol)
    w.writerow(['order_no'] + cols)
    for i, r in enumerate(recs, 1):
        w.writerow([f'X{i}'] + [r[c] for c in cols])
PY
  "$RESEND" --dry-run --channels sms -q "$T/$name.in.csv" -o "$T/$name.out.csv"
  rc=$?
  python3 - "${f%.csv}.json" "$T/$name.out.csv" <<'PY'
import csv, json, sys
exp = json.load(open(sys.argv[1]))
got = list(csv.DictReader(open(sys.argv[2], newline='')))
assert len(got) == len(exp), f'{len(got)} rows, expected {len(exp)}'
for e, g in zip(exp, got):
    for k, v in e.items():
        assert g[k] == v, f'{k}: {g[k]!r} != {v!r}'
    assert g['result_status'] == 'dry_run', g['result_status']
PY
  check "csv-spectrum $name: records round-trip unchanged (exit $rc)" [ $? -eq 0 -a $rc -eq 0 ]
done

# Samples: every row exactly once, in order, with the right statuses.
"$RESEND" --dry-run -q "$ROOT/samples/spreadsheet-export.csv" -o "$T/sx.csv"
check_eq "spreadsheet export: exit 1 (invalid rows)" 1 $?
check_eq "spreadsheet export: statuses in input order" \
  "dry_run dry_run invalid invalid invalid dry_run duplicate invalid dry_run" \
  "$(col "$T/sx.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
check_eq "spreadsheet export: original header names kept" "Order No,Session ID,Channels,State,Customer,Note" \
  "$(head -1 "$T/sx.csv" | cut -d, -f1-6)"
check "spreadsheet export: Arabic carried through" grep -q 'فاطمة الصباح' "$T/sx.csv"
check "spreadsheet export: multi-line cell carried through" python3 -c "
import csv,sys; r=list(csv.DictReader(open('$T/sx.csv'))); sys.exit(0 if r[1]['Note']=='called twice;\nprefers email' else 1)"
col "$T/sx.csv" result_detail >"$T/sx.details"
check "whatsapp dropped for refunded: row left with none is invalid" grep -q 'whatsapp does not support state refunded' <(sed -n 3p "$T/sx.details")
check "duplicate names the earlier row" grep -qx 'duplicate of row 2' <(sed -n 7p "$T/sx.details")
check "bad state named" grep -q 'state "unknown-state" is not a payment state' <(sed -n 8p "$T/sx.details")
check "bad channel named" grep -q 'unknown channel "fax"' <(sed -n 5p "$T/sx.details")
check_eq "channels canonical order, lower case" "sms;email" "$(col "$T/sx.csv" result_channels | sed -n 6p)"

# A state that drops a channel keeps the rest, with a note.
printf 'order_no,channels,state\nA1,sms whatsapp,voided\n' >"$T/drop.csv"
"$RESEND" --dry-run -q "$T/drop.csv" -o "$T/drop.out.csv"
check_eq "state drop: exit 0" 0 $?
check_eq "state drop: result_channels" "sms" "$(col "$T/drop.out.csv" result_channels)"
check "state drop: noted in detail" grep -q 'dropped whatsapp: state voided' "$T/drop.out.csv"

# --channels fills empty cells only.
printf 'order_no,channels\nA1,\nA2,email\n' >"$T/def.csv"
"$RESEND" --dry-run -q --channels sms,whatsapp "$T/def.csv" -o "$T/def.out.csv"
check_eq "--channels default for empty cells" "sms;whatsapp email" "$(col "$T/def.out.csv" result_channels | tr '\n' ' ' | sed 's/ $//')"
"$RESEND" --dry-run -q "$T/def.csv" -o "$T/def2.out.csv"
check "empty channels without --channels is invalid" grep -q 'channels is empty' "$T/def2.out.csv"

# Identifier rules.
python3 - "$T/ids.csv" <<'PY'
import sys
rows = [('a' * 128, 'ok'), ('a' * 129, 'long'), ('ب' * 128, 'arabic-ok'), ('x\x07y', 'ctrl'), ('  spaced  ', 'trim'),
        ('x\u0085y', 'c1'), ('', 'session-only')]
with open(sys.argv[1], 'wb') as f:
    f.write(b'order_no,session_id,channels,tag\n')
    for oid, tag in rows:
        sid = 'S1' if tag == 'session-only' else ''
        f.write(f'"{oid}",{sid},sms,{tag}\n'.encode())
    f.write(b'bad\xff\xfeutf8,,sms,badutf8\n')
PY
"$RESEND" --dry-run -q --encoding utf-8 "$T/ids.csv" -o "$T/ids.out.csv" # --encoding: bad bytes make rows invalid
check_eq "identifiers: statuses" "dry_run invalid dry_run invalid dry_run invalid dry_run invalid" \
  "$(col "$T/ids.out.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
check "identifier too long says 129" grep -q 'order_no is 129 characters long (at most 128)' "$T/ids.out.csv"
check "control character named as U+0007" grep -q 'U+0007' "$T/ids.out.csv"
check "C1 control character rejected" grep -q 'U+0085' "$T/ids.out.csv"
check "invalid UTF-8 named" grep -q 'order_no is not valid UTF-8' "$T/ids.out.csv"

# Field-count mismatch and malformed quotes: invalid rows, the job goes on.
printf 'order_no,channels,x\nA1,sms,1\nA2,sms\nA3,sms,1,extra\nA4,"sms"x,1\nA5,s"ms,1\nA6,sms,1\n' >"$T/bad.csv"
"$RESEND" --dry-run -q "$T/bad.csv" -o "$T/bad.out.csv"
check_eq "bad records: exit 1" 1 $?
check_eq "bad records: every row once, in order" "A1 A2 A3 A4 A5 A6" "$(col "$T/bad.out.csv" order_no | tr '\n' ' ' | sed 's/ $//')"
check_eq "bad records: statuses" "dry_run invalid invalid invalid invalid dry_run" \
  "$(col "$T/bad.out.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
check "too few fields named" grep -q 'row has 2 fields, the header has 3' "$T/bad.out.csv"
check "too many fields named" grep -q 'row has 4 fields, the header has 3' "$T/bad.out.csv"
check "malformed quote named" grep -q 'malformed CSV in field 2' "$T/bad.out.csv"

# Blank lines are skipped, CRLF works, result_* columns are ignored on input, ' guard removed.
printf 'order_no,channels,result_status,note\r\n\r\nA1,sms,sent,x\r\n   \r\nA2,email,failed,\x27=1+1\r\n' >"$T/crlf.csv"
"$RESEND" --dry-run -q "$T/crlf.csv" -o "$T/crlf.out.csv"
check_eq "CRLF + blank lines: two rows" 2 "$(rows "$T/crlf.out.csv")"
check_eq "result_* input columns are not carried" "order_no,channels,note,result_status" "$(head -1 "$T/crlf.out.csv" | cut -d, -f1-4)"
check_eq "a ' before = is removed on input" "=1+1" "$(col "$T/crlf.out.csv" note | tail -1)"

# Delimiters: ; tab | detected from the header, and --delimiter.
for d in ';' $'\t' '|'; do
  printf "order_no${d}channels${d}note\nA1${d}sms${d}a,b\n" >"$T/delim.csv"
  "$RESEND" --dry-run -q "$T/delim.csv" -o "$T/delim.out.csv"
  check_eq "delimiter $(printf %q "$d") detected" "a,b" "$(col "$T/delim.out.csv" note)"
done
printf 'order_no;channels\nA1,x;sms\n' >"$T/forced.csv"
"$RESEND" --dry-run -q --delimiter ';' "$T/forced.csv" -o "$T/forced.out.csv"
check_eq "--delimiter ;" "A1,x" "$(col "$T/forced.out.csv" order_no)"

# Standard input and standard output.
out=$(printf 'order_no,channels\nA1,sms\n' | "$RESEND" --dry-run -q -)
check_eq "stdin to stdout" "A1,sms,dry_run,,0,sms,," "$(echo "$out" | tail -1 | cut -d, -f1-8)"
"$RESEND" --dry-run -q "$ROOT/samples/outage-recovery.csv" -o - >"$T/stdout.csv"
check_eq "-o - writes the CSV to stdout" 60 "$(rows "$T/stdout.csv")"

# Exit 2: header and file problems, before anything is sent.
: >"$T/empty.csv"
"$RESEND" --dry-run "$T/empty.csv" 2>"$T/e.err"; check_eq "empty file: exit 2" 2 $?
check "empty file: says so" grep -q 'empty' "$T/e.err"
printf '\xef\xbb\xbf' >"$T/bom.csv"
"$RESEND" --dry-run "$T/bom.csv" 2>/dev/null; check_eq "file with only a BOM: exit 2" 2 $?
"$RESEND" --dry-run "$T/missing.csv" 2>"$T/e.err"; check_eq "missing file: exit 2" 2 $?
check "missing file: names it" grep -q 'missing.csv' "$T/e.err"
printf 'id,channels\n1,sms\n' >"$T/noid.csv"
"$RESEND" --dry-run "$T/noid.csv" 2>"$T/e.err"; check_eq "no identifier column: exit 2" 2 $?
check "no identifier column: names order_no" grep -q 'order_no' "$T/e.err"
printf 'Order No,order_no,channels\n1,1,sms\n' >"$T/dupcol.csv"
"$RESEND" --dry-run "$T/dupcol.csv" 2>"$T/e.err"; check_eq "two columns for order_no: exit 2" 2 $?
check "two columns: both named" grep -q 'Order No.*order_no' "$T/e.err"
printf 'order_no,channel,channels\n1,sms,sms\n' >"$T/dupch.csv"
"$RESEND" --dry-run "$T/dupch.csv" 2>/dev/null; check_eq "channel and channels: exit 2" 2 $?
printf 'order_no\nA1\n' >"$T/nochan.csv"
"$RESEND" --dry-run "$T/nochan.csv" 2>/dev/null; check_eq "no channels column and no --channels: exit 2" 2 $?
"$RESEND" --dry-run -q --channels email "$T/nochan.csv" -o "$T/nochan.out.csv"; check_eq "no channels column with --channels: exit 0" 0 $?
# Refused options and base URLs: on an input that is valid on its own (the control), so
# that only the option can be the reason, and the message must name the problem.
printf 'order_no,channels\nA1,sms\n' >"$T/valid.csv"
"$RESEND" --dry-run -q -o "$T/valid.out.csv" "$T/valid.csv"
check_eq "the input of the refusals below is valid on its own (dry run: exit 0)" 0 $?
# refused NAME PATTERN ARGS...: ARGS with the valid input: exit 2, stderr matches PATTERN
refused() {
  local n="$1" p="$2" rc said=no; shift 2
  "$RESEND" "$@" -o "$T/refused.csv" "$T/valid.csv" 2>"$T/refused.err"; rc=$?
  grep -qE -- "$p" "$T/refused.err" && said=yes
  check_eq "$n: exit 2, the message names the problem" "2 yes" "$rc $said"
  [ "$said" = yes ] || sed 's/^/#   stderr: /' "$T/refused.err"
}
refused "plain http to a remote host" 'plain http:// is only allowed for loopback' --base-url http://example.com
refused "plain http to 127.evil.example" 'plain http:// is only allowed for loopback' --base-url http://127.evil.example
refused "ftp:// refused" 'scheme ftp is not supported' --base-url ftp://127.0.0.1
refused "no base URL" 'no base URL: use --base-url'
OTTU_API_KEY= "$RESEND" --base-url https://x.ottu.net -o "$T/refused.csv" "$T/valid.csv" 2>"$T/e.err"; check_eq "no key: exit 2" 2 $?
check "no key: says how to give one" grep -q 'OTTU_API_KEY' "$T/e.err"
refused "-j 0" 'invalid value "0" for --concurrency' -j 0 --dry-run
refused "-j 1025" 'invalid value "1025" for --concurrency' -j 1025 --dry-run
refused "--rate abc" 'invalid value "abc" for --rate' --rate abc --dry-run
refused "--shard 3/3" 'invalid value "3/3" for --shard' --shard 3/3 --dry-run

# Default output name.
cp "$ROOT/samples/nightly-reconciliation.csv" "$T/night.csv"
"$RESEND" --dry-run -q "$T/night.csv"
check "default output is INPUT.results.csv" test -f "$T/night.results.csv"
cp "$T/night.csv" "$T/night.txt"
"$RESEND" --dry-run -q "$T/night.txt"
check "without .csv the suffix is appended" test -f "$T/night.txt.results.csv"

# Hostile input: never a crash or a lost row.
python3 - "$T" <<'PY'
import sys, os, random
t = sys.argv[1]
random.seed(1)
open(f'{t}/nul.csv', 'wb').write(b'order_no,channels\nA\x001,sms\nA2,sms\n')
open(f'{t}/bigfield.csv', 'wb').write(b'order_no,channels,blob\nA1,sms,' + b'x' * (4 << 20) + b'\nA2,sms,y\n')
open(f'{t}/wide.csv', 'w').write('order_no,channels,' + ','.join(f'c{i}' for i in range(20000)) + '\nA1,sms,' + ','.join('v' for _ in range(20000)) + '\n')
open(f'{t}/mixed.csv', 'wb').write(b'order_no,channels\r\nA1,sms\nA2,sms\rA3,sms\r\n')
open(f'{t}/escape.csv', 'wb').write(b'order_no,channels\n\x1b[31mEVIL\x1b[0m,sms\n')
open(f'{t}/garbage.csv', 'wb').write(b'order_no,channels\n' + bytes(random.randrange(256) for _ in range(20000)))
open(f'{t}/unterminated.csv', 'wb').write(b'order_no,channels\nA1,sms\n"A2,sms\nA3,sms\n')
PY
"$RESEND" --dry-run -q "$T/nul.csv" -o "$T/nul.out.csv"
check_eq "NUL in an identifier: invalid, next row fine" "invalid dry_run" "$(col "$T/nul.out.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
"$RESEND" --dry-run -q "$T/bigfield.csv" -o "$T/bigfield.out.csv"
check_eq "4 MB field: both rows" "dry_run dry_run" "$(col "$T/bigfield.out.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
check_eq "4 MB field: carried through" $((4 << 20)) "$(col "$T/bigfield.out.csv" blob | head -1 | tr -d '\n' | wc -c)"
"$RESEND" --dry-run -q "$T/wide.csv" -o "$T/wide.out.csv"
check_eq "20,000 columns: processed" "dry_run" "$(col "$T/wide.out.csv" result_status)"
"$RESEND" --dry-run -q "$T/mixed.csv" -o "$T/mixed.out.csv"
check_eq "mixed line ends: three rows" "A1 A2 A3" "$(col "$T/mixed.out.csv" order_no | tr '\n' ' ' | sed 's/ $//')"
"$RESEND" --dry-run -v "$T/escape.csv" -o "$T/escape.out.csv" 2>"$T/escape.err"
check_eq "terminal escape in an identifier: invalid" "invalid" "$(col "$T/escape.out.csv" result_status)"
check "terminal escape never echoed raw to stderr" bash -c "! grep -q $'\x1b' '$T/escape.err'"
timeout 20 "$RESEND" --dry-run -q --encoding utf-8 "$T/garbage.csv" -o "$T/garbage.out.csv"
rc=$?
check "binary garbage: no crash or hang (exit $rc)" [ $rc -eq 0 -o $rc -eq 1 ]
"$RESEND" --dry-run -q "$T/unterminated.csv" -o "$T/unterm.out.csv"
check_eq "unterminated quote: exit 1" 1 $?
check "unterminated quote: reported" grep -q 'never closed' "$T/unterm.out.csv"
check_eq "unterminated quote: only its line is invalid, the rows after it are read" "dry_run invalid dry_run" \
  "$(col "$T/unterm.out.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
printf 'order_no,channels\nA1,sms\n"A2,sms\nA3,sms\nA4,"x\nA5,sms\n' >"$T/runover.csv"
"$RESEND" --dry-run -q "$T/runover.csv" -o "$T/runover.out.csv"
check_eq "a quote running over lines: each broken line invalid, the rows between are read" \
  "A1 dry_run|\"A2,sms invalid|A3 dry_run|A4,\"x invalid|A5 dry_run" \
  "$(python3 -c 'import csv,sys; print("|".join(r["order_no"]+" "+r["result_status"] for r in csv.DictReader(open(sys.argv[1]))))' "$T/runover.out.csv")"

# Output line ends: LF by default, even for a CRLF input; a CR survives only inside a
# quoted cell that held one.
printf 'order_no,channels,note\r\nA1,sms,"x\r\ny"\r\nA2,sms,z\r\n' >"$T/eol.csv"
"$RESEND" --dry-run -q "$T/eol.csv" -o "$T/eol.out.csv"
check "default output: records end in LF, not CRLF" python3 -c "
import sys; d = open('$T/eol.out.csv', 'rb').read(); sys.exit(0 if d.count(b'\r') == 1 and d.endswith(b'\n') and not d.endswith(b'\r\n') else 1)"
check_eq "default output: the CR inside the quoted cell is kept" "x
y" "$(col "$T/eol.out.csv" note 2>/dev/null | head -2 | tr -d '\r')"

# Template mode shards by the normalised "to": two spellings of one phone number land in
# the same shard, by FNV-1a 64 of "+96550000123".
printf 'channel,template_id,to\nsms,t,+965 5000 0123\nsms,t,+965-5000-0123\nemail,t,a@example.com\n' >"$T/tshard.csv"
want=$(python3 -c '
def fnv(b):
    h = 0xcbf29ce484222325
    for c in b: h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
    return h
print(fnv(b"+96550000123") % 3)')
for k in 0 1 2; do
  "$RESEND" --dry-run -q --shard $k/3 "$T/tshard.csv" -o "$T/tshard.$k.csv"
done
check_eq "template shard: both spellings of the number are in shard $want" 2 \
  "$(col "$T/tshard.$want.csv" to | grep -c '5000')"
check_eq "template shard: every row in exactly one shard" 3 \
  "$(cat "$T"/tshard.[012].csv | grep -cv '^channel,')"
