#!/usr/bin/env bash
# Bad input, honest words (issue 27): a header and no rows says so (exit 0: a nightly query
# that found nothing); a compressed file, a document or a binary file is "not CSV text"
# naming what it looks like (exit 2, nothing sent); a base URL without a scheme suggests
# https://. Real ottu-resend against ottu-mock.
source "$(dirname "$0")/../lib.sh"
plan 13
cd "$T" || exit 1
start_mock --deliveries "$T/deliveries.csv" || exit 1

printf 'order_no,channels\n' > empty.csv
"$RESEND" --base-url "$MOCK_URL" --yes -o empty.out.csv empty.csv >empty.out 2>empty.err
check_eq "header and no rows: exit 0" 0 "$?"
check "header and no rows: says so" grep -q "empty.csv has a header and no rows: nothing to send" empty.err
printf 'order_no,channels\n' | "$RESEND" --base-url "$MOCK_URL" --yes -o stdin.out.csv - >/dev/null 2>stdin.err
check "header and no rows on standard input: says so" grep -q "standard input has a header and no rows" stdin.err

printf 'order_no,channels\nB-1,sms\nB-2,email\n' > good.csv
python3 - <<'PY'
import bz2, gzip, lzma
data = open("good.csv", "rb").read()
open("in.csv.gz", "wb").write(gzip.compress(data))
open("in.csv.bz2", "wb").write(bz2.compress(data))
open("in.csv.xz", "wb").write(lzma.compress(data))
open("in.csv.zst", "wb").write(b"\x28\xb5\x2f\xfd" + b"\x00" * 20)   # a zstd frame's magic
open("in.pdf", "wb").write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
open("in.bin", "wb").write(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\n")
PY
for f in "in.csv.gz gzip" "in.csv.bz2 bzip2" "in.csv.xz xz" "in.csv.zst zstd" "in.pdf a PDF" "in.bin NUL bytes"; do
  file=${f%% *}; kind=${f#* }
  "$RESEND" --base-url "$MOCK_URL" --yes -o "$file.out.csv" "$file" >"$file.out" 2>"$file.err"
  rc=$?
  check "$file: exit 2, 'not CSV text (looks like $kind'" bash -c \
    "[ $rc = 2 ] && grep -qF 'is not CSV text (looks like $kind' '$file.err'"
done
sed 's/^/#   /' in.csv.gz.err
check_eq "not CSV text: nothing sent" 0 "$(delivered deliveries.csv)"

"$RESEND" --base-url merchant.ottu.net --yes -o url.out.csv good.csv >url.out 2>url.err
check_eq "base URL without a scheme: exit 2" 2 "$?"
check "base URL without a scheme: suggests https://" grep -qF "did you mean https://merchant.ottu.net" url.err
check_eq "base URL without a scheme: nothing sent" 0 "$(delivered deliveries.csv)"
