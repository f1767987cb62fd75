#!/usr/bin/env bash
# A workbook people can print (issue 27): the Results sheet landscape on A4, one page wide,
# its header row repeated on every page; amounts as numbers; the Summary's columns as wide
# as their texts (nothing runs over a cell beside it) with a chart of outcomes per
# channel. Read from the file's XML, and, when LibreOffice is installed, printed to PDF by
# it: the text on the page is at least 7 pt high.
source "$(dirname "$0")/../lib.sh"
plan 10
cd "$T" || exit 1
start_mock --fail-rate 0.3 --seed 2 || exit 1
python3 - <<'PY'
import csv, random
random.seed(1)
w = csv.writer(open("in.csv", "w", newline=""))
w.writerow(["order_no", "session_id", "channels", "state", "customer_name", "amount", "note"])
for i in range(1, 301):
    w.writerow(["ORD-%05d" % i, "", random.choice(["sms", "email", "sms;email", "whatsapp"]), "paid",
                "Customer %d" % i, "%d.%03d" % (random.randint(1, 500), random.randint(0, 999)), "reminder"])
PY
"$RESEND" --base-url "$MOCK_URL" --no-ledger --yes -r 0 --max-attempts 2 --backoff-base-ms 1 -q \
  --xlsx "$T/out.xlsx" -o out.csv in.csv 2>run.err
check_eq "a run with a few failures: exit 1" 1 "$?"
cat > wb.py <<'PY'
import re, sys, zipfile, xml.etree.ElementTree as ET
M = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
z = zipfile.ZipFile(sys.argv[1])
def x(p): return z.read(p).decode()
wb = x("xl/workbook.xml")
rels = dict(re.findall(r'Id="(rId\d+)"[^>]*Target="([^"]+)"', x("xl/_rels/workbook.xml.rels")))
sheets = {n: "xl/" + rels[r].lstrip("/").replace("xl/", "") for n, r in re.findall(r'<sheet name="([^"]+)" sheetId="\d+" r:id="(rId\d+)"', wb)}
res, summ = x(sheets["Results"]), x(sheets["Summary"])
what = sys.argv[2]
def cols(sheet):
    w = {}
    for m in re.finditer(r'<col min="(\d+)" max="(\d+)" width="([\d.]+)"', sheet):
        for c in range(int(m.group(1)), int(m.group(2)) + 1): w[c] = float(m.group(3))
    return w
def colno(ref):
    n = 0
    for ch in re.match(r"[A-Z]+", ref).group(0): n = n * 26 + ord(ch) - 64
    return n
if what == "page":
    ps = re.search(r"<pageSetup [^>]*>", res).group(0)
    ok = 'orientation="landscape"' in ps and 'paperSize="9"' in ps and 'fitToHeight="0"' in ps \
        and 'fitToPage="1"' in res and "_xlnm.Print_Titles" in wb and "Results!$1:$1" in wb
    print(ok)
elif what == "amounts":
    # column F (amount): numbers, never text; the 3 decimals shown by the number format
    cells = re.findall(r'<c r="F(\d+)"([^>]*)>', res)
    print(all('t="' not in a for r, a in cells if r != "1") and len(cells) == 301 and "#,##0.000" in x("xl/styles.xml"))
elif what == "chart":
    names = z.namelist()
    ch = [n for n in names if n.startswith("xl/charts/chart")]
    c = x(ch[0]) if ch else ""
    print(bool(ch) and "<c:barChart>" in c and 'val="stacked"' in c and "Summary!$A$" in c and c.count("<c:ser>") == 2
          and any(n.startswith("xl/drawings/drawing") for n in names))
elif what == "summary-fits":
    # every text cell of the Summary fits its column (or wraps in it): no overlap
    w = cols(summ)
    styles = ET.fromstring(z.read("xl/styles.xml"))
    xfs = styles.find(M + "cellXfs").findall(M + "xf")
    wrap = {i for i, xf in enumerate(xfs) if xf.find(M + "alignment") is not None and xf.find(M + "alignment").get("wrapText") == "1"}
    bad = []
    for m in re.finditer(r'<c r="([A-Z]+)(\d+)"([^>]*)t="inlineStr"[^>]*><is><t[^>]*>([^<]*)</t>', summ):
        col, row, attrs, text = colno(m.group(1)), m.group(2), m.group(3), m.group(4)
        s = re.search(r's="(\d+)"', attrs)
        if s and int(s.group(1)) in wrap: continue
        if len(text) + 1 > w.get(col, 8.43):
            bad.append("%s%s %r in width %s" % (m.group(1), row, text, w.get(col)))
    print("ok" if not bad else "; ".join(bad[:4]))
PY
check_eq "Results: landscape A4, fit to one page wide, header row repeated (Print_Titles)" True "$(python3 wb.py out.xlsx page)"
check_eq "Results: amounts are number cells with their 3 decimals shown" True "$(python3 wb.py out.xlsx amounts)"
check_eq "Summary: a stacked bar chart of sent / not sent per channel" True "$(python3 wb.py out.xlsx chart)"
check_eq "Summary: every text fits its column or wraps in it (no overlap)" ok "$(python3 wb.py out.xlsx summary-fits)"

# Printed by a real consumer: LibreOffice (libreoffice-calc-nogui), then poppler's text boxes.
if ! command -v soffice >/dev/null || ! command -v pdftotext >/dev/null; then
  skip 5 "LibreOffice (soffice) and poppler-utils (pdftotext) are not installed: not printed"
  exit 0
fi
HOME="$T" timeout 120 soffice --headless --convert-to pdf --outdir "$T" out.xlsx >soffice.log 2>&1
check "LibreOffice prints the workbook to PDF" test -s out.pdf
pages=$(pdfinfo out.pdf 2>/dev/null | awk '/^Pages:/{print $2}')
pdftotext -bbox -f 1 -l 1 out.pdf page1.html 2>/dev/null
h=$(python3 -c '
import re, sys
hs = [float(b) - float(a) for a, b, w in re.findall(r"yMin=\"([\d.]+)\" xMax=\"[\d.]+\" yMax=\"([\d.]+)\">(ORD-\d+)<", open(sys.argv[1]).read())]
print("%.1f" % (sorted(hs)[len(hs) // 2]) if hs else 0)' page1.html)
echo "# printed: $pages pages for 300 rows; the order numbers on page 1 are $h pt high"
check "printed: the text is readable (order numbers at least 7 pt high, measured $h pt)" \
  python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 7 else 1)' "$h"
check "printed: 300 rows on at most 8 pages ($pages)" test "${pages:-99}" -le 8
heads=$(pdftotext out.pdf - | grep -c "order_no") # each page starts with a form feed
check "printed: the header row on every Results page ($heads of $pages pages, the last the Summary)" bash -c \
  "[ $heads -ge $(( ${pages:-1} - 1 )) ]"
check "printed: the Summary has the chart's title" bash -c "pdftotext out.pdf - | grep -q 'Notifications per channel'"
