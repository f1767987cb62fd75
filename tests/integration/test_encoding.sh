#!/usr/bin/env bash
# Input encodings (issue 18): UTF-16 with a BOM and --encoding round-trip Arabic and accented
# names exactly to UTF-8; a file that is not UTF-8 stops in its first 64 KiB with the row,
# column and likely encoding, and makes later rows invalid; a non-UTF-8 template cell never
# reaches the API; workbooks are refused; --map; every payment state of docs/formats.md.
# Runs the real ottu-resend against the real ottu-mock on 127.0.0.1 (--no-ledger).
source "$(dirname "$0")/../lib.sh"
plan 67
cd "$T" || exit 1

run() { "$RESEND" --base-url "$MOCK_URL" --no-ledger --no-preflight -r 0 -q "$@"; }
# requests FILE: the mock's request count now
requests() { curl -s "$MOCK_URL/__mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

# The names every encoded file carries, and the files, written by python in each encoding.
python3 - <<'PY'
arabic = [('طلب-1001', 'sms', 'أحمد الكويتي'), ('طلب-1002', 'email', 'فاطمة'), ('ORD-3', 'sms', 'نورة، "الشمري"')]
latin = [('CMD-é1', 'sms', 'Zoë Müller'), ('CMD-2', 'email', 'François Ça, Ñandú'), ('ORD-4', 'sms', 'Ø "quoted"')]
def csv_text(rows, sep=','):
    def q(v):
        return '"' + v.replace('"', '""') + '"' if (sep in v or '"' in v or '،' in v) else v
    lines = [sep.join(['order_no', 'channels', 'name'])] + [sep.join(q(v) for v in r) for r in rows]
    return '\r\n'.join(lines) + '\r\n'
both = arabic + latin
# Excel's "Unicode Text": UTF-16LE with a BOM, tab-separated.
open('u16le.csv', 'wb').write(b'\xff\xfe' + csv_text(both, '\t').encode('utf-16-le'))
open('u16be.csv', 'wb').write(b'\xfe\xff' + csv_text(both).encode('utf-16-be'))
open('w1256.csv', 'wb').write(csv_text(arabic).encode('cp1256'))
open('w1252.csv', 'wb').write(csv_text(latin).encode('cp1252'))
open('iso6.csv', 'wb').write(csv_text([('A-1', 'sms', 'سارة')]).encode('iso-8859-6'))
# What the result CSV must hold, in UTF-8.
import json
json.dump({'u16le': both, 'u16be': both, 'w1256': arabic, 'w1252': latin, 'iso6': [['A-1', 'sms', 'سارة']]},
          open('expected.json', 'w', encoding='utf-8'), ensure_ascii=False)
PY

# same_rows NAME OUT: the result's order_no/channels/name equal the expected UTF-8 exactly.
same_rows() {
  python3 - "$1" "$2" <<'PY'
import csv, json, sys
want = [list(r) for r in json.load(open('expected.json', encoding='utf-8'))[sys.argv[1]]]
raw = open(sys.argv[2], 'rb').read()
got = [[r['order_no'], r['channels'], r['name']] for r in csv.DictReader(raw.decode('utf-8').splitlines(True))]
sys.exit(0 if got == want else print('# got', got, '\n# want', want) or 1)
PY
}

start_mock --deliveries "$T/del.csv"
for f in u16le u16be w1256 w1252 iso6; do
  case $f in
    w1256) enc=(--encoding windows-1256) ;;
    w1252) enc=(--encoding windows-1252) ;;
    iso6) enc=(--encoding iso-8859-6) ;;
    *) enc=() ;;
  esac
  : >"$T/del.csv"
  run "${enc[@]}" "$f.csv" -o "$f.out.csv"
  check_eq "$f: exit 0" 0 $?
  check "$f: every name round-trips exactly to UTF-8" same_rows "$f" "$f.out.csv"
  check_eq "$f: every row sent" "" "$(col "$f.out.csv" result_status | grep -v '^sent$')"
  check_eq "$f: the API got the identifiers in UTF-8" "$(col "$f.out.csv" order_no | sort | paste -sd'|' -)" \
    "$(python3 -c 'import csv,sys; print("\n".join(r[2] for r in csv.reader(open(sys.argv[1], encoding="utf-8"))))' "$T/del.csv" | sort | paste -sd'|' -)"
done
check_eq "UTF-16LE: the tab delimiter is found" "order_no,channels,name" "$(head -1 u16le.out.csv | cut -d, -f1-3)"

# Not UTF-8, no --encoding, in the first 64 KiB: exit 2 before any request, naming the spot.
before=$(requests)
run w1256.csv -o w1256.no.csv 2>err1256.txt
check_eq "windows-1256 without --encoding: exit 2" 2 $?
check "windows-1256: names row 1, column 1 (\"order_no\")" grep -q 'row 1, column 1 ("order_no")' err1256.txt
check "windows-1256: suggests --encoding windows-1256" grep -q -- '--encoding windows-1256' err1256.txt
check "windows-1256: says how to save as CSV UTF-8" grep -q 'CSV UTF-8' err1256.txt
run w1252.csv -o w1252.no.csv 2>err1252.txt
check_eq "windows-1252 without --encoding: exit 2" 2 $?
check "windows-1252: suggests --encoding windows-1252" grep -q -- '--encoding windows-1252' err1252.txt
check "windows-1252: names row 1, column 1" grep -q 'row 1, column 1 ("order_no")' err1252.txt
printf 'order_no,channels,name\nA1,sms,Ali\nA2,sms,\xe1\xc7\xed\n' >row2.csv
run row2.csv -o row2.out.csv 2>errrow2.txt
check "a later row of the first 64 KiB: named (row 2, column 3)" grep -q 'row 2, column 3 ("name")' errrow2.txt
check_eq "not UTF-8: no request was made" "$before" "$(requests)"
check "not UTF-8: no result file" [ ! -e w1256.no.csv ]
printf 'order_no,channels,\xc7\xe1\xc7\xd3\xe3\n1,sms,x\n' >badhdr.csv
run badhdr.csv -o badhdr.out.csv 2>errhdr.txt
check_eq "a header that is not UTF-8: exit 2" 2 $?
check "a header that is not UTF-8: named, windows-1256 suggested" grep -q 'the header (column 3).*--encoding windows-1256' errhdr.txt

# Not UTF-8 after the first 64 KiB: only that row is invalid, naming its column; the
# result file is UTF-8.
python3 - <<'PY'
with open('late.csv', 'wb') as f:
    f.write(b'order_no,channels,name\n')
    for i in range(3000):
        f.write(b'L%05d,sms,plain name\n' % i)
    f.write(b'LATE-1,sms,\xd3\xc7\xd1\xc9\n')   # windows-1256 bytes
    f.write('LATE-2,sms,سارة\n'.encode())
PY
: >"$T/del.csv"
run late.csv -o late.out.csv
check_eq "late bad bytes: exit 1" 1 $?
check_eq "late bad bytes: only that row invalid" "invalid" "$(col late.out.csv result_status | sort | uniq -c | awk '$2!="sent"{print $2}')"
check "late bad bytes: the detail names the column" grep -q 'LATE-1,sms,.*column name is not valid UTF-8' late.out.csv
check "late bad bytes: the result file is UTF-8" python3 -c 'open("late.out.csv", encoding="utf-8", errors="strict").read()'
check_eq "late bad bytes: the row after it is sent intact" "سارة" "$(col late.out.csv name | tail -1)"
check "late bad bytes: never sent" bash -c "! grep -q LATE-1 '$T/del.csv'"

# A template row whose context cell is not UTF-8: invalid, naming the column; no request.
printf 'channel,template_id,to,context.name\nsms,t1,+96550000001,ok\nsms,t1,+96550000002,\xe1\xc7\n' >tmpl.csv
before=$(requests)
run --encoding utf-8 tmpl.csv -o tmpl.out.csv
check_eq "template, non-UTF-8 context cell: exit 1" 1 $?
check_eq "template: statuses" "sent invalid" "$(col tmpl.out.csv result_status | paste -sd' ' -)"
check "template: the detail names context.name" grep -q 'context.name is not valid UTF-8' tmpl.out.csv
check_eq "template: one request only (the valid row)" $((before + 1)) "$(requests)"
run tmpl.csv -o tmpl2.out.csv 2>errtmpl.txt
check_eq "template, the same file without --encoding: exit 2" 2 $?
check "template: names row 2, column 4" grep -q 'row 2, column 4 ("context.name")' errtmpl.txt
stop_mock

# A spreadsheet workbook as input: refused with how to save it as CSV.
python3 - <<'PY'
import zipfile
with zipfile.ZipFile('book.xlsx', 'w') as z:
    z.writestr('[Content_Types].xml', '<Types/>')
    z.writestr('xl/workbook.xml', '<workbook/>')
open('book.xls', 'wb').write(bytes.fromhex('d0cf11e0a1b11ae1') + bytes(504))
PY
cp book.xlsx book.csv
for f in book.xlsx book.xls book.csv; do
  "$RESEND" --dry-run --no-ledger -q "$f" -o "$f.out.csv" 2>"$f.err"
  check_eq "workbook $f: exit 2" 2 $?
  check "workbook $f: says it is a workbook and how to save as CSV UTF-8" \
    grep -q 'is a spreadsheet workbook.*"CSV UTF-8 (Comma delimited)' "$f.err"
done
"$RESEND" --dry-run --no-ledger -q - <book.xls -o stdin.out.csv 2>stdin.err
check "workbook on standard input: refused" grep -q 'standard input is a spreadsheet workbook (.xls)' stdin.err

# --map: export headers read as recognised names; the output keeps the original header.
printf 'Merchant Ref,Notify Via,Customer\nM-1,sms,Ali\nM-2,email;sms,Sara\n' >export.csv
start_mock --deliveries "$T/del-map.csv"
run --map 'merchant ref=order_no' --map 'Notify-Via=channels' export.csv -o export.out.csv
check_eq "--map: exit 0" 0 $?
check_eq "--map: the original header is kept" "Merchant Ref,Notify Via,Customer,result_status" "$(head -1 export.out.csv | cut -d, -f1-4)"
check_eq "--map: sent per the mapped columns" "M-1,sms|M-2,email|M-2,sms" \
  "$(python3 -c 'import csv,sys; print("|".join(sorted(r[2]+","+r[3] for r in csv.reader(open(sys.argv[1])))))' "$T/del-map.csv")"
stop_mock
"$RESEND" --dry-run --no-ledger -q --map 'Order Ref=order_no' export.csv -o x.csv 2>map1.err
check_eq "--map naming a missing header: exit 2" 2 $?
check "--map naming a missing header: said" grep -q "the header has no column \"Order Ref\"" map1.err
"$RESEND" --dry-run --no-ledger -q --map 'Merchant Ref=order_number' export.csv -o x.csv 2>map2.err
check_eq "--map to an unknown name: exit 2" 2 $?
check "--map to an unknown name: said" grep -q '"order_number" is not a column ottu-resend knows' map2.err
printf 'order_no,Merchant Ref,channels\nA,B,sms\n' >twice.csv
"$RESEND" --dry-run --no-ledger -q --map 'Merchant Ref=order_no' twice.csv -o x.csv 2>map3.err
check_eq "--map onto a name the file already has: exit 2" 2 $?
check "--map onto a name the file already has: both named" grep -q 'both mean order_no' map3.err

# Every state of the table in docs/formats.md (dry run: rows sms;email;whatsapp).
python3 - <<'PY'
states = ['created', 'pending', 'attempted', 'authorized', 'paid', 'cod', 'failed', 'canceled', 'expired',
          'invalided', 'refunded', 'refund_queued', 'refund_rejected', 'voided', 'captured']
with open('states.csv', 'w') as f:
    f.write('order_no,channels,state\n')
    for i, s in enumerate(states):
        f.write(f'S{i},sms;email;whatsapp,{s.upper() if i % 2 else s}\n')
PY
"$RESEND" --dry-run --no-ledger -q states.csv -o states.out.csv
check_eq "states: exit 1 (some invalid)" 1 $?
check_eq "states: status per state" \
  "dry_run invalid invalid dry_run dry_run invalid dry_run dry_run dry_run invalid dry_run invalid invalid dry_run dry_run" \
  "$(col states.out.csv result_status | paste -sd' ' -)"
check_eq "states: channels per state" \
  "sms;email;whatsapp|||sms;email;whatsapp|sms;email;whatsapp||sms;email;whatsapp|sms;email;whatsapp|sms;email;whatsapp||sms;email|||sms;email|sms;email" \
  "$(col states.out.csv result_channels | paste -sd'|' -)"
check "states: pending says Ottu has no notification for it" \
  grep -q 'S1,sms;email;whatsapp,PENDING,invalid,,0,,"state pending: Ottu has no notification' states.out.csv
check_eq "states: each no-notification state named" "pending attempted cod invalided refund_queued refund_rejected" \
  "$(col states.out.csv result_detail | sed -n 's/^state \([a-z_]*\): Ottu has no notification.*/\1/p' | paste -sd' ' -)"
printf 'order_no,channels,state\nX,sms,shipped\n' >nostate.csv
"$RESEND" --dry-run --no-ledger -q nostate.csv -o nostate.out.csv
check "a word that is no state: invalid, listing the states" grep -q 'state ""shipped"" is not a payment state (created, pending' nostate.out.csv
