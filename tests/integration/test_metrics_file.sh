#!/usr/bin/env bash
# --metrics-file is checked before the first request (exit 2, nothing sent) like every
# other output; the runbook's way into Debian's textfile folder (group ottu, mode 1775)
# works for a non-root job; the nightly wrapper alerts when an output it asked for was not
# written.
. "$(dirname "$0")/../lib.sh"
plan 14
cd "$T" || exit 1
start_mock --deliveries "$T/deliveries.csv" || exit 1
printf 'order_no,channels\nT-1,sms\nT-2,email\n' > in.csv

# The job runs as a user that is not root (root writes anywhere): uid 10001 with
# setpriv when the test is root, else the test's own user.
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || { skip 14 "needs setpriv"; exit 0; }
  chmod 755 "$T"
  as_job() { setpriv --reuid=10001 --regid=10001 --clear-groups "$@"; }
  JOBUID=10001
else
  as_job() { "$@"; }
  JOBUID=$(id -u)
fi
mkdir -p out && chmod 777 out
# textfile: like Debian's /var/lib/prometheus/node-exporter, root-owned (here: not the job's) 0755
mkdir -p textfile && chmod 755 textfile
[ "$(id -u)" != 0 ] && chmod 555 textfile
send() { # NAME: one run of in.csv as the job's user, metrics into textfile/
  as_job env OTTU_API_KEY=test-key XDG_STATE_HOME="$T/out/state" "$RESEND" --base-url "$MOCK_URL" -q \
    --metrics-file "$T/textfile/ottu-resend.prom" -o "$T/out/$1.csv" "$T/in.csv" >"$1.out" 2>"$1.err"
  echo $?
}
check_eq "metrics folder not writable: exit 2" 2 "$(send ro)"
check_eq "metrics folder not writable: nothing sent" 0 "$(delivered deliveries.csv)"
check "metrics folder not writable: the error names the file and the folder" \
  grep -q "cannot write --metrics-file $T/textfile/ottu-resend.prom: cannot create a file in $T/textfile: Permission denied" ro.err
check "metrics folder not writable: no results file" test ! -e out/ro.csv
mkdir -p textfile/dir.prom
as_job env OTTU_API_KEY=test-key "$RESEND" --base-url "$MOCK_URL" -q --no-ledger --metrics-file "$T/textfile/dir.prom" \
  -o "$T/out/dir.csv" "$T/in.csv" >dir.out 2>dir.err
check_eq "metrics path is a folder: exit 2" 2 "$?"

# The runbook: `dpkg-statoverride --update --add root ottu 1775 /var/lib/prometheus/node-exporter`
# gives the folder to group ottu with the sticky bit. The same owner and mode here.
if [ "$(id -u)" = 0 ]; then
  chgrp 10001 textfile && chmod 1775 textfile
  check_eq "folder root:ottu 1775 (the runbook's statoverride): exit 0" 0 "$(send rw)"
  check_eq "folder root:ottu 1775: both rows sent" 2 "$(delivered deliveries.csv)"
  check_eq "the metrics file: the job's, mode 0644 (node_exporter reads it as another user)" "$JOBUID 644" \
    "$(stat -c '%u %a' textfile/ottu-resend.prom)"
  check "no temporary left in the textfile folder" bash -c "[ \$(ls textfile | grep -c tmp) = 0 ]"
  # the sticky bit: the job cannot remove another user's file there
  printf 'x 1\n' > textfile/other.prom; chmod 644 textfile/other.prom
  as_job rm -f textfile/other.prom 2>/dev/null
  check "sticky folder: the job cannot remove node_exporter's other files" test -e textfile/other.prom
else
  skip 5 "the group folder needs root (chgrp to the job's group)"
fi

# --- the nightly wrapper: an output not written is an ALERT, even when the sending went well ---
if ! command -v jq >/dev/null || ! command -v flock >/dev/null; then
  skip 4 "the nightly wrapper needs jq and flock"; exit 0
fi
mkdir -p bin
cp "$ROOT/contrib/ottu-resend-nightly" "$ROOT/contrib/ottu-resend-check" bin/
# stand-in ottu-resend: the real one, but the metrics file silently not written (as when
# the disk fills at the end of the run)
cat > bin/ottu-resend <<SH
#!/bin/bash
a=()
while [ \$# -gt 0 ]; do
  if [ "\$1" = --metrics-file ]; then shift 2; continue; fi
  a+=("\$1"); shift
done
exec "$RESEND" "\${a[@]}"
SH
chmod +x bin/*
printf 'order_no,channels\nW-1,sms\n' > night.csv
nightly() {
  env PATH="$T/bin:$PATH" STATE="$T/nightly" EXPORT="cat $T/night.csv" OTTU_BASE_URL="$MOCK_URL" RATE=0 \
    OTTU_LEDGER="$T/nightly.db" "$@" ottu-resend-nightly
}
nightly METRICS_FILE="$T/nightly.prom" >n1.out 2>n1.err
check_eq "nightly: the metrics file not written: exit 1" 1 "$?"
check "nightly: the verdict is an ALERT naming the file" grep -q "^ALERT: not written: $T/nightly.prom" n1.out
sed 's/^/#   /' n1.out
rm -rf "$T/nightly"
cp "$RESEND" bin/ottu-resend   # the real one again: everything written
nightly METRICS_FILE="$T/nightly2.prom" >n2.out 2>n2.err
check_eq "nightly: every output written: OK, exit 0" "0 OK" "$? $(cut -c1-2 n2.out)"
check "nightly: its metrics file is there" test -s "$T/nightly2.prom"
