#!/usr/bin/env bash
# --xlsx from the command line (issue 10): a dry run and a real run over awkward input
# (=1+1, +965..., 000123, Arabic, a multi-line cell, XML-special text); the workbook is read
# back with unzip and python's zipfile/ElementTree as independent readers: inline strings
# with the exact text, no formulas anywhere, frozen header, autoFilter, a Summary sheet whose
# counts equal the result CSV. Real ottu-resend against the real ottu-mock on 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
plan 41
cd "$T" || exit 1
mkdir -p "$XDG_STATE_HOME/ottu-resend" # the default ledger's folder

joined() { col "$1" "$2" | paste -sd'|' -; }
stat() { curl -s "$1/__mock/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }

# The workbook reader: python3 xl.py WORKBOOK EXPR, with
#   sheets: [names in order]; cells(name) -> {(row, col): (type, text)} where type is the
#   cell's t attribute ('' for numbers), text decoded (_xHHHH_ escapes undone);
#   grid(name) -> list of rows (lists of text, '' for missing cells); xml(part) -> raw text
cat >xl.py <<'PY'
import re, sys, zipfile, xml.etree.ElementTree as ET
NS = {'m': 'http://schemas.openxmlformats.org/spreadsheetml/2006/main',
      'r': 'http://schemas.openxmlformats.org/officeDocument/2006/relationships',
      'p': 'http://schemas.openxmlformats.org/package/2006/relationships'}
z = zipfile.ZipFile(sys.argv[1])
def xml(part): return z.read(part).decode('utf-8')
wb = ET.fromstring(z.read('xl/workbook.xml'))
rels = ET.fromstring(z.read('xl/_rels/workbook.xml.rels'))
target = {r.get('Id'): r.get('Target') for r in rels.findall('p:Relationship', NS)}
sheets, part = [], {}
for s in wb.findall('m:sheets/m:sheet', NS):
    name = s.get('name'); sheets.append(name)
    t = target[s.get('{%s}id' % NS['r'])]
    part[name] = t.lstrip('/') if t.startswith('/') else 'xl/' + t
shared = []
if 'xl/sharedStrings.xml' in z.namelist():
    for si in ET.fromstring(z.read('xl/sharedStrings.xml')).findall('m:si', NS):
        shared.append(''.join(t.text or '' for t in si.iter('{%s}t' % NS['m'])))
def unesc(s): return re.sub(r'_x([0-9A-Fa-f]{4})_', lambda m: chr(int(m.group(1), 16)), s)
def colno(ref):
    n = 0
    for ch in re.match(r'[A-Z]+', ref).group(0): n = n * 26 + ord(ch) - 64
    return n
def cells(name):
    out = {}
    ws = ET.fromstring(z.read(part[name]))
    for c in ws.iter('{%s}c' % NS['m']):
        ref = c.get('r'); t = c.get('t') or ''
        row = int(re.search(r'\d+', ref).group(0))
        if t == 'inlineStr':
            text = unesc(''.join(x.text or '' for x in c.iter('{%s}t' % NS['m'])))
        elif t == 's':
            text = unesc(shared[int(c.find('m:v', NS).text)])
        else:
            v = c.find('m:v', NS); text = v.text if v is not None else ''
        out[(row, colno(ref))] = (t, text)
    return out
def grid(name):
    c = cells(name)
    if not c: return []
    nr = max(r for r, _ in c); nc = max(k for _, k in c)
    return [[c.get((r, k), ('', ''))[1] for k in range(1, nc + 1)] for r in range(1, nr + 1)]
def csvrows(path):
    import csv
    return list(csv.reader(open(path, newline='', encoding='utf-8-sig')))
def summary(name='Summary'):
    # {label: value} from the first two columns of the summary sheet
    return {r[0]: r[1] for r in grid(name) if len(r) > 1 and r[0]}
print(eval(sys.argv[2]))
PY
xl() { python3 xl.py "$@" 2>&1; }

# ---------------------------------------------------------------------------------------
python3 - <<'PY'
import csv
rows = [['order_no', 'session_id', 'channels', 'state', 'note', 'customer'],
        ['000123', '', 'sms', 'paid', '=1+1', 'فاطمة الصباح'],
        ['ORD-2', '', 'sms;email', 'paid', '+96550000003', 'two\nlines'],
        ['ORD-3', '', 'fax', 'paid', '12.50', 'Omar'],
        ['', 'SESS-4', 'whatsapp', 'paid', '-5', '@mention'],
        ['ORD-5', '', 'email', 'paid', '_x0041_', '  lead and trail  '],
        ['ORD-6', '', 'sms', 'paid', 'a & b <c> "q"\ttab', 'ctl\x01x\x0b'],
        ['000123', '', 'sms', 'paid', '=1+1', 'فاطمة الصباح'],
        ['ORD-8', '', 'whatsapp', 'refunded', '=HYPERLINK("http://x","y")', 'يوسف']]
with open('in.csv', 'w', newline='', encoding='utf-8') as f:
    csv.writer(f, lineterminator='\n').writerows(rows)
PY
N=8

# 1. Dry run.
"$RESEND" --dry-run -q --xlsx dry.xlsx -o dry.csv in.csv 2>dry.err; rc=$?
check_eq "dry run: exit 1 (invalid rows)" 1 "$rc"
check "dry run: workbook written and a valid zip (unzip -t)" bash -c "unzip -tq dry.xlsx >/dev/null"
check "dry run: an Excel workbook ([Content_Types].xml, xl/workbook.xml)" \
  bash -c 'unzip -Z1 dry.xlsx | grep -qx "\[Content_Types\].xml" && unzip -Z1 dry.xlsx | grep -qx xl/workbook.xml'
check_eq "dry run: statuses in the CSV" "dry_run|dry_run|invalid|dry_run|dry_run|dry_run|duplicate|invalid" "$(joined dry.csv result_status)"
check_eq "dry run: a sheet named Summary" True "$(xl dry.xlsx '"Summary" in sheets')"
check_eq "dry run: the results sheet comes first, the summary after" "True" "$(xl dry.xlsx 'sheets[0] != "Summary" and sheets.index("Summary") > 0')"
check_eq "dry run: results header = the CSV header, then the finish time in the local zone" "True" \
  "$(xl dry.xlsx 'grid(sheets[0])[0] == csvrows("dry.csv")[0] + ["result_finished_local"]')"
check_eq "dry run: $N data rows" "$N" "$(xl dry.xlsx 'len(grid(sheets[0])) - 1')"
inline_exact() { # WORKBOOK CSV: every input cell is an inline string with exactly the input's text
  python3 - "$1" <<'PY'
import contextlib, csv, io, runpy, sys
sys.argv = ['xl.py', sys.argv[1], '0']
with contextlib.redirect_stdout(io.StringIO()):
    g = runpy.run_path('xl.py')
inp = list(csv.reader(open('in.csv', newline='', encoding='utf-8')))
c = g['cells'](g['sheets'][0])
bad = []
for r, row in enumerate(inp, start=1):
    for k, v in enumerate(row, start=1):
        t, text = c.get((r, k), (None, ''))
        if v == '' and t is None:
            continue
        if t != 'inlineStr' or text != v:
            bad.append('R%dC%d: type %r text %r, want inline %r' % (r, k, t, text, v))
for b in bad[:8]:
    print('#   ' + b)
sys.exit(1 if bad else 0)
PY
}
check "dry run: input cells are inline strings with the exact text (000123, =1+1, +965..., Arabic, multi-line, _x0041_, spaces, & < >, control characters)" \
  inline_exact dry.xlsx
check_eq "dry run: 000123 kept as text" "inlineStr 000123" "$(xl dry.xlsx '" ".join(cells(sheets[0])[(2,1)])')"
check_eq "dry run: multi-line cell exact" "'two\\nlines'" "$(xl dry.xlsx 'repr(cells(sheets[0])[(3,6)][1])')"
check "dry run: no <f> (formula) element in any part" \
  xlsx_lacks "<f[ >/]" dry.xlsx "*.xml"
check "dry run: no formula-result string cells (t=\"str\")" xlsx_lacks 't="str"' dry.xlsx "xl/worksheets/*.xml"
check "dry run: header row frozen (pane state=frozen, ySplit=1)" \
  python3 -c '
import sys,re
x = sys.stdin.read()
p = re.search(r"<pane [^>]*>", x)
sys.exit(0 if p and "state=\"frozen\"" in p.group(0) and "ySplit=\"1\"" in p.group(0) else 1)' < <(xl dry.xlsx 'xml(part[sheets[0]])')
check_eq "dry run: autoFilter over the header and all rows" "A1:$(python3 -c 'import sys; n=int(sys.argv[1]); s=""
while n: n, r = divmod(n - 1, 26); s = chr(65 + r) + s
print(s)' "$(( $(head -1 dry.csv | tr ',' '\n' | wc -l) + 1 ))")$((N + 1))" \
  "$(xl dry.xlsx 're.search(r"<autoFilter ref=\"([^\"]+)\"", xml(part[sheets[0]])).group(1)')"
check_eq "dry run: result_status column equals the CSV" "$(joined dry.csv result_status)" \
  "$(xl dry.xlsx '"|".join(r[grid(sheets[0])[0].index("result_status")] for r in grid(sheets[0])[1:])')"
check_eq "dry run: result_detail column equals the CSV" "$(col dry.csv result_detail | md5sum)" \
  "$(xl dry.xlsx '"\n".join(r[grid(sheets[0])[0].index("result_detail")] for r in grid(sheets[0])[1:])' | md5sum)"
check_eq "dry run: result_attempts typed as numbers" "True" \
  "$(xl dry.xlsx 'all(cells(sheets[0])[(r, grid(sheets[0])[0].index("result_attempts") + 1)] == ("", "0") for r in range(2, 10))')"
summary_eq() { # WORKBOOK CSV: the Summary sheet's count for every status equals the CSV's
  python3 - "$1" "$2" <<'PY'
import contextlib, csv, io, runpy, sys
wbk, path = sys.argv[1], sys.argv[2]
sys.argv = ['xl.py', wbk, '0']
with contextlib.redirect_stdout(io.StringIO()):
    g = runpy.run_path('xl.py')
cells = g['cells']('Summary')
rows = list(csv.DictReader(open(path, newline='', encoding='utf-8-sig')))
bad = []
for st in ('sent', 'failed', 'invalid', 'duplicate', 'skipped', 'not_attempted', 'unknown', 'dry_run'):
    want = sum(1 for r in rows if r['result_status'] == st)
    found = [(r, k) for (r, k), (t, text) in cells.items() if text == st]
    if not found:
        bad.append('%s: not on the Summary sheet' % st); continue
    r, k = found[0]
    t, v = cells.get((r, k + 1), ('', ''))
    try:
        ok = float(v) == want and t in ('', 'n')
    except ValueError:
        ok = False
    if not ok:
        bad.append('%s: summary %r (type %r), CSV %d' % (st, v, t, want))
for b in bad:
    print('#   ' + b)
sys.exit(1 if bad else 0)
PY
}
check "dry run: the Summary sheet has every status with the CSV's count (a number)" summary_eq dry.xlsx dry.csv

# 2. A real run against the mock.
start_mock --deliveries "$T/del.csv"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -r 0 -q --xlsx real.xlsx -o real.csv in.csv 2>real.err; rc=$?
check_eq "real run: exit 1 (invalid rows)" 1 "$rc"
check_eq "real run: statuses" "sent|sent|invalid|sent|sent|sent|duplicate|invalid" "$(joined real.csv result_status)"
check "real run: input cells exact inline strings" inline_exact real.xlsx
check "real run: no <f> anywhere" xlsx_lacks "<f[ >/]" real.xlsx "*.xml"
check "real run: Summary counts equal the CSV" summary_eq real.xlsx real.csv
check_eq "real run: result_status column equals the CSV" "$(joined real.csv result_status)" \
  "$(xl real.xlsx '"|".join(r[grid(sheets[0])[0].index("result_status")] for r in grid(sheets[0])[1:])')"
check_eq "real run: result_http_status 200 typed as a number for sent rows" "True" \
  "$(xl real.xlsx 'all(cells(sheets[0])[(r + 2, grid(sheets[0])[0].index("result_http_status") + 1)] == ("", "200") for r in (0, 1, 3, 4, 5))')"
check_eq "real run: result_channels column equals the CSV" "$(joined real.csv result_channels)" \
  "$(xl real.xlsx '"|".join(r[grid(sheets[0])[0].index("result_channels")] for r in grid(sheets[0])[1:])')"
check_eq "real run: result_finished_at matches the CSV to the millisecond (date or text)" "True" \
  "$(xl real.xlsx '
(lambda h, g, c: all(
  (lambda v, want: abs(((__import__("datetime").datetime(1899,12,30) + __import__("datetime").timedelta(days=float(v[1]))) - __import__("datetime").datetime.strptime(want, "%Y-%m-%dT%H:%M:%S.%fZ")).total_seconds()) < 0.0015
     if v[0] in ("", "n") else v[1] == want)(c[(i + 2, h.index("result_finished_at") + 1)], row[h.index("result_finished_at")])
  for i, row in enumerate(csvrows("real.csv")[1:])))(grid(sheets[0])[0], grid(sheets[0]), cells(sheets[0]))')"
check_eq "real run: Summary says exit 1, what to do, and no shard line (not sharded)" "1|True|False" \
  "$(xl real.xlsx '"|".join([summary()["exit status"], str("failures" in summary()["what to do next"]), str("shard" in summary())])')"
chan_stderr=$(sed -n 's/^  channels sent: //p' real.err)
[ -n "$chan_stderr" ] || not_ok "real run: stderr has a channels line"
check_eq "real run: Summary channels = stderr's (sent/requested)" "$chan_stderr" \
  "$(xl real.xlsx '" ".join("%s %s/%s" % (r[0], r[1], r[2]) for r in grid("Summary") if r[0] in ("sms", "email", "whatsapp") and len(r) > 2)')"
check_eq "real run: 6 channel notifications delivered" 6 "$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1]))))' del.csv)"

# 3. --excel guards the CSV only; the workbook keeps the exact text.
"$RESEND" --dry-run -q --excel --xlsx ex.xlsx -o ex.csv in.csv 2>/dev/null
check_eq "--excel + --xlsx: CSV cell guarded" "'=1+1" "$(col ex.csv note | sed -n 1p)"
check "--excel + --xlsx: workbook cells exact (no leading quote)" inline_exact ex.xlsx

# 4. Template mode and the sample.
"$RESEND" --dry-run -q --xlsx tpl.xlsx -o tpl.csv "$ROOT/samples/template-campaign.csv" 2>/dev/null
check_eq "template sample: workbook rows equal the CSV rows (all columns as text, the amount a number)" "True" \
  "$(xl tpl.xlsx '[[c for k, c in enumerate(r[:12]) if k != 10] for r in grid(sheets[0])] == [[c for k, c in enumerate(r[:12]) if k != 10] for r in csvrows("tpl.csv")] and all(float(a[10]) == float(b[10]) for a, b in zip(grid(sheets[0])[1:], csvrows("tpl.csv")[1:]) if b[10])')"
check_eq "template sample: context.amount cells are numbers (no t attribute), 3 decimals shown" "True" \
  "$(xl tpl.xlsx 'all(cells(sheets[0])[(r, 11)][0] in ("", "n") for r in range(2, len(grid(sheets[0])) + 1) if (r, 11) in cells(sheets[0])) and "#,##0.000" in xml("xl/styles.xml")')"
check "template sample: Summary counts equal the CSV" summary_eq tpl.xlsx tpl.csv

# An invalid UTF-8 byte in an extra column must not break the workbook (--encoding utf-8:
# the row is then invalid instead of the job stopping in the first 64 KiB).
printf 'order_no,channels,note\nB-1,sms,bad\377byte\nB-2,sms,fine\n' >badutf.csv
"$RESEND" --dry-run -q --encoding utf-8 --xlsx badutf.xlsx -o badutf.csv.out badutf.csv 2>/dev/null
check_eq "invalid UTF-8 in a cell: exit 1 (that row invalid) and every XML part of the workbook is well-formed" "1 True" \
  "$? $(python3 -c '
import sys, zipfile, xml.etree.ElementTree as ET
z = zipfile.ZipFile(sys.argv[1]); ok = True
for n in z.namelist():
    if n.endswith(".xml") or n.endswith(".rels"):
        try: ET.fromstring(z.read(n))
        except Exception as e: ok = False; print("#   %s: %s" % (n, e), file=sys.stderr)
print(ok)' badutf.xlsx)"
check_eq "invalid UTF-8 in a cell: the other cells exact" "fine" "$(xl badutf.xlsx 'cells(sheets[0])[(3,3)][1]')"

# 5. An unwritable --xlsx path is refused before anything is sent.
"$RESEND" --base-url "$MOCK_URL" -r 0 -q --xlsx "$T/no-such-dir/x.xlsx" -o nw.csv in.csv 2>nw.err; rc=$?
check_eq "--xlsx in a missing directory: exit 2" 2 "$rc"
check "--xlsx in a missing directory: message names the path" grep -q 'no-such-dir/x.xlsx' nw.err
check_eq "--xlsx refused: nothing more sent (requests still 5)" 5 "$(stat "$MOCK_URL" 's["requests"]')"
stop_mock
