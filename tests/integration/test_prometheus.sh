#!/usr/bin/env bash
# Prometheus end to end: a real node_exporter (textfile collector) and a real Prometheus with
# a default-like scrape config (job "node", no honor_labels) and the shipped rules, both on
# loopback; ottu-resend writes --metrics-file into the textfile folder. After a good run the
# success series is stored under the job's name and "no successful run" is quiet; after a
# run whose key is rejected (exit 3) the failure alerts go pending. Also: promtool accepts
# the metrics file and the rules.
. "$(dirname "$0")/../lib.sh"
plan 22
cd "$T" || exit 1
PROM=${PROMETHEUS:-/usr/bin/prometheus}
NODE=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
RULES="$ROOT/contrib/prometheus/ottu-resend-rules.yml"
if [ ! -x "$PROM" ] || [ ! -x "$NODE" ] || [ ! -x "$PROMTOOL" ]; then
  skip 22 "needs prometheus, prometheus-node-exporter and promtool (tests/deps.sh installs them)"
  exit 0
fi
SERVERS=()
stop_servers() {
  local p
  for p in "${SERVERS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  cleanup
}
trap stop_servers EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for SECONDS CMD...: until CMD succeeds, at most SECONDS
wait_for() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done
}

# --- promtool on the shipped rules and on a real run's file -------------------------------
check "promtool check rules: the shipped rules" bash -c "\"$PROMTOOL\" check rules \"$RULES\" >/dev/null"
printf 'order_no,channels\nP-1,sms\nP-2,email\n' > lint.csv
"$RESEND" --dry-run -q --no-ledger --metrics-file "$T/lint.prom" -o lint.out.csv lint.csv >/dev/null 2>&1
check "promtool check metrics: a real run's file is clean" bash -c "\"$PROMTOOL\" check metrics < lint.prom >lint.txt 2>&1"
sed 's/^/#   /' lint.txt
check "metrics: no job or instance label (a scrape would rename them)" bash -c "! grep -Eq '[{,](job|instance)=' lint.prom"
check "metrics: the job is named by job_name (the input's base name)" grep -q 'ottu_resend_last_exit_code{job_name="lint"} 0' lint.prom

# --- the servers ----------------------------------------------------------------------------
mkdir -p textfile tsdb
NPORT=$(free_port)
"$NODE" --web.listen-address="127.0.0.1:$NPORT" --collector.disable-defaults --collector.textfile \
  --collector.textfile.directory="$T/textfile" >node.log 2>&1 &
SERVERS+=($!)
# The rules as shipped, with the durations of for: shortened so a test sees "pending"
# within seconds but never "firing" (1h).
sed -E 's/^( *for: ).*/\11h/' "$RULES" > rules.yml
PPORT=$(free_port)
cat > prometheus.yml <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["$T/rules.yml"]
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:$NPORT"]
EOF
"$PROM" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
  --web.listen-address="127.0.0.1:$PPORT" >prom.log 2>&1 &
SERVERS+=($!)
API="http://127.0.0.1:$PPORT/api/v1"
# q PROMQL: the query's result as compact JSON (empty on error)
q() { curl -s --max-time 2 -G "$API/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
try: print(json.dumps(json.load(sys.stdin)["data"]["result"], sort_keys=True))
except Exception: print("")'; }
# alert NAME: the alert's state ("pending", "firing") or "quiet"
alert() { curl -s --max-time 2 "$API/alerts" | python3 -c '
import json, sys
a = [x["state"] for x in json.load(sys.stdin)["data"]["alerts"] if x["labels"]["alertname"] == sys.argv[1]]
print(a[0] if a else "quiet")' "$1"; }
up() { [ "$(q 'up{job="node"}' | grep -c '"1"')" = 1 ]; }
if ! wait_for 20 up; then
  not_ok "prometheus scrapes node_exporter"; tail -5 prom.log node.log | sed 's/^/#   /'; exit 0
fi
ok "prometheus scrapes node_exporter (job node, default labels)"
check "prometheus loaded the shipped rules" bash -c \
  "curl -s '$API/rules' | grep -q OttuResendNoSuccessfulRun"

# --- a good run ----------------------------------------------------------------------------
start_mock --api-key test-key || exit 1
printf 'order_no,channels\nG-1,sms\nG-2,email\n' > night.csv
"$RESEND" --base-url "$MOCK_URL" -q --job-name ottu-resend-nightly --metrics-file "$T/textfile/ottu-resend.prom" \
  -o good.csv night.csv >good.out 2>&1
check_eq "a good run: exit 0" 0 "$?"
stored() { [ -n "$(q 'ottu_resend_last_success_timestamp_seconds{job_name="ottu-resend-nightly",job="node"}' | grep job_name)" ]; }
check "the success series is stored under job_name (job stays node)" wait_for 20 stored
check_eq "no exported_job label (nothing renamed by the scrape)" 0 "$(q '{exported_job!=""}' | grep -o exported_job | wc -l)"
check_eq "the rules' no-success expression sees the series (age < 26 h)" "[]" \
  "$(q 'time() - ottu_resend_last_success_timestamp_seconds{job_name="ottu-resend-nightly"} > 26 * 3600')"
check_eq "rules' success expression would fire on an old run (the selector matches)" 1 \
  "$(q 'time() - ottu_resend_last_success_timestamp_seconds{job_name="ottu-resend-nightly"} > -1' | grep -o job_name | wc -l)"
# The runbook's example queries (its "Select by job_name" block) find the series.
grep -E '^(time\(\) - )?ottu_resend_[a-z_]+\{job_name=' "$ROOT/docs/runbook.md" | sed 's/ *#.*//' > runbook-queries.txt
check "the runbook has example queries" test -s runbook-queries.txt
while read -r query; do
  check "runbook query finds the series: $query" bash -c "[ -n \"\$1\" ] && [ \"\$1\" != '[]' ]" _ "$(q "$query")"
done < runbook-queries.txt
# let the rules run a few evaluations with the series present
evals() { [ "$(curl -s "$API/rules" | python3 -c '
import json, sys
g = json.load(sys.stdin)["data"]["groups"][0]
print(1 if g["lastEvaluation"] > sys.argv[1] else 0)' "$(date -u +%FT%T.%NZ)")" = 1 ]; }
wait_for 10 evals; wait_for 10 evals
check_eq "after a good run: OttuResendNoSuccessfulRun quiet" quiet "$(alert OttuResendNoSuccessfulRun)"
check_eq "after a good run: OttuResendMetricsMissing quiet" quiet "$(alert OttuResendMetricsMissing)"
check_eq "after a good run: OttuResendRunFailed quiet" quiet "$(alert OttuResendRunFailed)"

# --- a run whose key is rejected (exit 3) -----------------------------------------------------
stop_mock
start_mock --api-key another-key || exit 1
printf 'order_no,channels\nF-1,sms\n' > night2.csv
"$RESEND" --base-url "$MOCK_URL" -q --no-preflight --job-name ottu-resend-nightly \
  --metrics-file "$T/textfile/ottu-resend.prom" -o bad.csv night2.csv >bad.out 2>&1
check_eq "a run with a rejected key: exit 3" 3 "$?"
pending() { [ "$(alert "$1")" = pending ]; }
check "after exit 3: OttuResendKeyRejected goes pending" wait_for 20 pending OttuResendKeyRejected
check "after exit 3: OttuResendRunFailed goes pending" wait_for 10 pending OttuResendRunFailed
check_eq "after exit 3: the last success is carried over (NoSuccessfulRun quiet)" quiet "$(alert OttuResendNoSuccessfulRun)"
check "the alert carries the job's name and the node's instance" bash -c \
  "curl -s '$API/alerts' | grep -q '\"job_name\":\"ottu-resend-nightly\"'"
