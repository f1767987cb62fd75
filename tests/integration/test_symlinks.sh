#!/usr/bin/env bash
# No file is written through a symbolic link planted where ottu-resend creates one: the
# lock, the job file and its temporary, the journal, the summary JSON, the metrics, the
# workbook, the failures, the results and their .partial. Each: a link to a victim file,
# a run, then the victim unchanged and either a clear refusal or a safe result (a new
# file replaced the link).
. "$(dirname "$0")/../lib.sh"
plan 26
cd "$T" || exit 1
start_mock --deliveries "$T/deliveries.csv" || exit 1
printf 'order_no,channels\nS-1,sms\nS-2,email\n' > in.csv
victim() { printf 'precious %s\n' "$1" > "victim.$1"; ln -s "$T/victim.$1" "$2"; }
intact() { [ "$(cat "victim.$1")" = "precious $1" ]; }
# send NAME [options...]: one run with -o out.NAME.csv; prints the exit status
send() {
  local n=$1; shift
  new_ledger
  "$RESEND" --base-url "$MOCK_URL" -q "$@" -o "out.$n.csv" in.csv >"$n.out" 2>"$n.err"
  echo $?
}
# a regular file (the link was replaced) and the victim untouched
replaced() { [ -f "$2" ] && [ ! -L "$2" ] && intact "$1"; }

victim lock out.lock.csv.lock
check_eq "OUTPUT.lock is a link: refused (exit 2)" 2 "$(send lock)"
check "OUTPUT.lock is a link: the victim unchanged" intact lock
check "OUTPUT.lock is a link: the error says so" grep -q "out.lock.csv.lock is a symbolic link: refused" lock.err
check_eq "OUTPUT.lock is a link: nothing sent" 0 "$(delivered deliveries.csv)"

victim jobtmp out.jobtmp.csv.job.tmp
check_eq "OUTPUT.job.tmp is a link: the run goes on (exit 0)" 0 "$(send jobtmp)"
check "OUTPUT.job.tmp is a link: the victim unchanged, OUTPUT.job written" \
  bash -c "[ \"\$(cat victim.jobtmp)\" = 'precious jobtmp' ] && [ -f out.jobtmp.csv.job ] && [ ! -L out.jobtmp.csv.job ]"

victim job out.job.csv.job
check_eq "OUTPUT.job is a link: exit 0" 0 "$(send job)"
check "OUTPUT.job is a link: replaced by a file, the victim unchanged" replaced job out.job.csv.job

victim journal out.journal.csv.journal
r=$(send journal)
check "OUTPUT.journal is a link: refused (exit 2), the victim unchanged" bash -c "[ $r = 2 ] && [ \"\$(cat victim.journal)\" = 'precious journal' ]"
r=$(send journal --resume)
check "OUTPUT.journal is a link, --resume: refused (exit 2), the victim unchanged" bash -c "[ $r = 2 ] && [ \"\$(cat victim.journal)\" = 'precious journal' ]"
sed 's/^/#   /' journal.err

# A real journal moved away and linked back: --resume must not append to it through the link.
new_ledger
"$RESEND" --base-url "$MOCK_URL" -q --limit 1 -o out.jn.csv in.csv >/dev/null 2>&1
mv out.jn.csv.journal victim.jn && ln -s "$T/victim.jn" out.jn.csv.journal
before=$(md5sum < victim.jn)
"$RESEND" --base-url "$MOCK_URL" -q --resume -o out.jn.csv in.csv >jn.out 2>jn.err
check_eq "a journal linked to a real one, --resume: refused (exit 2)" 2 "$?"
check_eq "a journal linked to a real one: the linked journal unchanged" "$before" "$(md5sum < victim.jn)"
check "a journal linked to a real one: the error names the journal" grep -q "out.jn.csv.journal" jn.err

victim summary summary.json
check_eq "--summary-json is a link: exit 0" 0 "$(send summary --summary-json "$T/summary.json")"
check "--summary-json is a link: replaced by the summary, the victim unchanged" \
  bash -c "[ -f summary.json ] && [ ! -L summary.json ] && grep -q '\"exit_code\"' summary.json && [ \"\$(cat victim.summary)\" = 'precious summary' ]"
ln -s "$T/created-by-summary" dangling.json
send dangling --summary-json "$T/dangling.json" >/dev/null
check "--summary-json is a dangling link: nothing created at its target" test ! -e created-by-summary

victim metrics m.prom
check_eq "--metrics-file is a link: exit 0" 0 "$(send metrics --metrics-file "$T/m.prom")"
check "--metrics-file is a link: replaced by the metrics, the victim unchanged" \
  bash -c "[ -f m.prom ] && [ ! -L m.prom ] && grep -q ottu_resend_rows m.prom && [ \"\$(cat victim.metrics)\" = 'precious metrics' ]"

victim xlsx book.xlsx
check_eq "--xlsx is a link: exit 0" 0 "$(send xlsx --xlsx "$T/book.xlsx")"
check "--xlsx is a link: replaced by the workbook, the victim unchanged" \
  bash -c "[ -f book.xlsx ] && [ ! -L book.xlsx ] && unzip -l book.xlsx | grep -q xl/workbook.xml && [ \"\$(cat victim.xlsx)\" = 'precious xlsx' ]"
check "--xlsx: no temporary left beside it" bash -c "[ \$(ls | grep -c '^book.xlsx.') = 0 ]"

victim failures fail.csv
send failures --failures "$T/fail.csv" >/dev/null
check "--failures is a link: replaced by a file, the victim unchanged" replaced failures fail.csv

victim output out.output.csv
check_eq "-o is a link: exit 0" 0 "$(send output)"
check "-o is a link: replaced by the results, the victim unchanged" replaced output out.output.csv

victim partial out.partial.csv.partial
check_eq "OUTPUT.partial is a link: exit 0" 0 "$(send partial)"
check "OUTPUT.partial is a link: the victim unchanged" intact partial
