#!/usr/bin/env bash
# test_ops — what operators deploy: `make install` puts every file in place (as the
# Dockerfile does), the systemd units verify, the manifests and alert rules parse and say
# what the docs promise, the metrics file parses with an independent reader, keys come from
# every source (a Kubernetes-style read-only mount included), and the nightly wrapper runs
# against ottu-mock: local-date folder, a lost lock is one quiet line, exit 4 resumes first.
. "$(dirname "$0")/../lib.sh"
plan 57
cd "$T" || exit 1

# --- make install / uninstall ------------------------------------------------------------
R="$T/root"
make -s -C "$ROOT" BUILD="$BUILD" install DESTDIR="$R" PREFIX=/usr >install.log 2>&1
check "make install DESTDIR=… PREFIX=/usr succeeds" test $? -eq 0
want="usr/bin/ottu-resend usr/bin/ottu-mock usr/bin/ottu-resend-nightly usr/bin/ottu-resend-check
usr/share/man/man1/ottu-resend.1 usr/share/bash-completion/completions/ottu-resend
usr/lib/systemd/system/ottu-resend-nightly.service usr/lib/systemd/system/ottu-resend-nightly.timer
usr/lib/systemd/system/ottu-resend-alert@.service
usr/share/doc/ottu-resend/examples/kubernetes/ottu-resend-job.yaml
usr/share/doc/ottu-resend/examples/kubernetes/ottu-resend-pvc.yaml
usr/share/doc/ottu-resend/examples/prometheus/ottu-resend-rules.yml"
missing=""
for f in $want; do [ -f "$R/$f" ] || missing="$missing $f"; done
check_eq "make install: every file is installed" "" "$missing"
check "make install: programs and scripts are executable" bash -c \
  "for f in ottu-resend ottu-mock ottu-resend-nightly ottu-resend-check; do [ -x '$R/usr/bin/'\$f ] || exit 1; done"
check_eq "make install: nothing else is installed" "$(echo "$want" | tr ' ' '\n' | grep -c .)" \
  "$(cd "$R" && find . -type f | wc -l)"
make -s -C "$ROOT" BUILD="$BUILD" uninstall DESTDIR="$R" PREFIX=/usr >/dev/null 2>&1
check_eq "make uninstall removes every file" "0" "$(find "$R" -type f | wc -l)"
make -s -C "$ROOT" BUILD="$BUILD" install DESTDIR="$R" PREFIX=/usr >/dev/null 2>&1

# --- the Dockerfile matches make install ---------------------------------------------------
DF="$ROOT/Dockerfile"
check "Dockerfile: the build stage runs make install PREFIX=/usr/local and the runtime copies it" \
  bash -c "grep -q 'make install DESTDIR=/out PREFIX=/usr/local' '$DF' && grep -q 'COPY --from=build /out/usr/local/ /usr/local/' '$DF'"
check "Dockerfile: non-root USER, ENTRYPOINT ottu-resend, state VOLUME with XDG_STATE_HOME" bash -c \
  "grep -q '^USER 10001' '$DF' && grep -q '^ENTRYPOINT \[\"ottu-resend\"\]' '$DF' && grep -q '^VOLUME \[\"/var/lib/ottu-resend\"\]' '$DF' && grep -q '^ENV XDG_STATE_HOME=/var/lib/ottu-resend' '$DF'"
if command -v dpkg >/dev/null && command -v readelf >/dev/null; then
  # the runtime stage's packages: every library the programs link must come from one of them
  runtime=$(awk '/^FROM debian:bookworm-slim$/{rt=1} rt' "$DF" | tr ' \\' '\n\n' | grep -E '^lib|^ca-cert')
  lacking=""
  for lib in $(readelf -d "$BUILD/ottu-resend" "$BUILD/ottu-mock" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort -u); do
    path=$(ldconfig -p | awk -v l="$lib" '$1==l {print $NF; exit}')
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    [ -z "$pkg" ] && pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
    case "$pkg" in libc6|libgcc-s1) continue ;; esac  # in every Debian image (essential)
    echo "$runtime" | grep -qx "$pkg" || lacking="$lacking $lib($pkg)"
  done
  check_eq "Dockerfile: the runtime stage installs the package of every linked library" "" "$lacking"
else
  skip 1 "no dpkg/readelf: the Dockerfile's runtime packages are not checked against the binaries"
fi

# --- systemd units ------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
  # ExecStart=ottu-resend-nightly is looked up in systemd's fixed search path: give it the
  # installed copy there, as a real install would.
  out=$(cd "$R/usr/lib/systemd/system" && PATH="$R/usr/bin:$PATH" systemd-analyze verify --man=no \
        ottu-resend-nightly.service ottu-resend-nightly.timer ottu-resend-alert@x.service 2>&1 |
        grep -v 'ottu-resend-nightly is not executable')
  check_eq "systemd-analyze verify: the three units are clean" "" "$out"
  check "the service reads the key as a systemd credential and alerts on failure" bash -c \
    "grep -q '^LoadCredential=ottu-api-key:' '$R/usr/lib/systemd/system/ottu-resend-nightly.service' &&
     grep -q '^OnFailure=ottu-resend-alert@%n.service' '$R/usr/lib/systemd/system/ottu-resend-nightly.service'"
else
  skip 2 "systemd-analyze is not installed (tests/deps.sh installs systemd): the units are not verified"
fi

# --- scripts --------------------------------------------------------------------------------
for s in ottu-resend-nightly ottu-resend-check; do
  check "$s: bash -n" bash -n "$ROOT/contrib/$s"
  if command -v dash >/dev/null; then check "$s: dash -n (it is /bin/sh on Debian)" dash -n "$ROOT/contrib/$s"
  else skip 1 "$s: dash is not installed"; fi
done

# --- YAML: Kubernetes manifests and Prometheus rules -------------------------------------
if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$ROOT/contrib/kubernetes" "$ROOT/contrib/prometheus/ottu-resend-rules.yml" >yaml.out 2>&1 <<'PY'
import glob, sys, yaml
docs = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        docs[d["kind"]] = d
def ok(name, cond): print(("ok - " if cond else "not ok - ") + name)
job = docs["Job"]; pvc = docs["PersistentVolumeClaim"]
spec = job["spec"]; pod = spec["template"]["spec"]; c = pod["containers"][0]
ok("k8s: Indexed Job, completions == parallelism == SHARDS, no automatic retry",
   spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"]
   and str(spec["completions"]) == {e["name"]: e.get("value") for e in c["env"]}["SHARDS"] and spec["backoffLimit"] == 0)
sc = pod["securityContext"]
ok("k8s: non-root pod with an fsGroup", sc["runAsNonRoot"] is True and sc["runAsUser"] != 0 and "fsGroup" in sc)
ok("k8s: container drops privileges, read-only root filesystem",
   c["securityContext"]["allowPrivilegeEscalation"] is False and c["securityContext"]["readOnlyRootFilesystem"] is True)
vols = {v["name"]: v for v in pod["volumes"]}; mounts = {m["name"]: m for m in c["volumeMounts"]}
key = vols["api-key"]["secret"]
ok("k8s: the key Secret is mounted read-only, mode 0440 (never world-readable)",
   mounts["api-key"].get("readOnly") is True and key["defaultMode"] == 0o440)
env = {e["name"]: e for e in c["env"]}
ok("k8s: OTTU_API_KEY_FILE points into the Secret's mount",
   env["OTTU_API_KEY_FILE"]["value"].startswith(mounts["api-key"]["mountPath"] + "/"))
ok("k8s: one PostgreSQL ledger, its password from a Secret as PGPASSWORD, not in the URL",
   env["OTTU_LEDGER"]["value"].startswith("postgresql://") and ":" not in env["OTTU_LEDGER"]["value"].split("//")[1].split("@")[0]
   and "secretKeyRef" in env["PGPASSWORD"]["valueFrom"])
ok("k8s: the state folder is the PVC (ReadWriteMany, for shards on several nodes)",
   vols["state"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
   and mounts["state"]["mountPath"] == "/var/lib/ottu-resend" and "ReadWriteMany" in pvc["spec"]["accessModes"])
ok("k8s: each pod runs its own shard", '--shard "$k/$SHARDS"' in c["args"][0] and "JOB_COMPLETION_INDEX" in c["args"][0])
ok("k8s: every shard gets the one daily budget (shared through the ledger, not divided)",
   '--daily-budget "$DAILY_BUDGET"' in c["args"][0] and int(env["DAILY_BUDGET"]["value"]) > 0)
root = dict(p.split("=", 1) for p in env["OTTU_LEDGER"]["value"].split("?", 1)[1].split("&")).get("sslrootcert", "")
ok("k8s: the ledger's sslrootcert is on a read-only mounted volume",
   any(root.startswith(m["mountPath"] + "/") and m.get("readOnly") is True for m in c["volumeMounts"]))
rules = yaml.safe_load(open(sys.argv[2]))["groups"][0]["rules"]
names = {r["alert"] for r in rules}
ok("prometheus: rules for no success in 26 h and a high failure ratio",
   {"OttuResendNoSuccessfulRun", "OttuResendFailureRatioHigh"} <= names
   and any("26 * 3600" in r["expr"] for r in rules))
import re
used = set(re.findall(r"ottu_resend_[a-z_]+", " ".join(r["expr"] for r in rules)))
print("# metrics used by the rules: " + " ".join(sorted(used)))
open("rule-metrics.txt", "w").write("\n".join(sorted(used)))
PY
  cat yaml.out
else
  skip 11 "python3 has no yaml module (tests/deps.sh installs python3-yaml): manifests not parsed"
fi

# --- the metrics file, read by an independent parser -------------------------------------
mkdir -p prom
METRICS_KEEP="$T/prom" "$BUILD/tests/test_metrics" >/dev/null 2>&1
check "test_metrics wrote its sample files" test -s prom/escaped.prom -a -s prom/carried.prom
cat > promparse.py <<'PY'
# A strict reader of the Prometheus text format (0.0.4), independent of metrics.c.
import re, sys
def unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\":
            n = v[i + 1]
            if n not in '\\"n': raise ValueError("bad escape \\" + n)
            out.append({"\\": "\\", '"': '"', "n": "\n"}[n]); i += 2
        else:
            out.append(v[i]); i += 1
    return "".join(out)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
def parse(text):
    helps, types, samples = {}, {}, []
    if not text.endswith("\n"): raise ValueError("no final newline")
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name = line.split(" ")[2]; helps[name] = line
        elif line.startswith("# TYPE "):
            _, _, name, t = line.split(" ")
            if name not in helps: raise ValueError("TYPE before HELP for " + name)
            if t not in ("gauge", "counter"): raise ValueError("type " + t)
            types[name] = t
        elif line.startswith("#") or not line:
            raise ValueError("stray line: " + line)
        else:
            m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$', line)
            if not m: raise ValueError("bad sample: " + line)
            name, labels, value = m.groups()
            if name not in types: raise ValueError("sample before its HELP/TYPE: " + name)
            pos, lab = 0, {}
            while pos < len(labels):
                lm = LABEL.match(labels, pos)
                if not lm: raise ValueError("bad labels: " + labels)
                lab[lm.group(1)] = unescape(lm.group(2)); pos = lm.end()
                if pos < len(labels):
                    if labels[pos] != ",": raise ValueError("bad labels: " + labels)
                    pos += 1
            float(value)
            samples.append((name, lab, float(value)))
    return types, samples
types, samples = parse(open(sys.argv[1]).read())
want_job = sys.argv[2]
for name, lab, v in samples:
    assert "job" not in lab and "instance" not in lab, lab
    assert lab["job_name"] == want_job, (lab["job_name"], want_job)
status = sorted(l["status"] for n, l, v in samples if n == "ottu_resend_rows")
assert status == sorted(["sent", "failed", "invalid", "duplicate", "skipped", "not_attempted", "unknown", "dry_run"]), status
ch = sorted((l["channel"], l["outcome"]) for n, l, v in samples if n == "ottu_resend_channel_rows")
assert ch == sorted((c, o) for c in ("sms", "email", "whatsapp") for o in ("sent", "failed")), ch
for fam in ("ottu_resend_requests", "ottu_resend_retries", "ottu_resend_last_run_timestamp_seconds",
            "ottu_resend_last_exit_code", "ottu_resend_duration_seconds"):
    assert sum(1 for n, l, v in samples if n == fam) == 1, fam
print("# families: " + " ".join(sorted(types)))
PY
job=$'night "shift" \\ one\nline'
check "metrics: every sample has HELP and TYPE, labels escaped (quote, backslash, newline round-trip)" \
  python3 promparse.py prom/escaped.prom "$job"
check "metrics: the file replaced after a failed run parses and keeps the last success" bash -c \
  "python3 promparse.py prom/carried.prom \"\$1\" | grep -q ottu_resend_last_success_timestamp_seconds" _ "$job"
if [ -s rule-metrics.txt ]; then
  fams=$(python3 promparse.py prom/carried.prom "$job" | sed "s/^# families: //")
  lacking=""
  for m in $(cat rule-metrics.txt); do echo " $fams " | grep -q " $m " || lacking="$lacking $m"; done
  check_eq "prometheus rules use only metrics that ottu-resend writes" "" "$lacking"
else
  skip 1 "the rules' metrics are unknown (their YAML was not parsed)"
fi
printf 'order_no,channels\nM-1,sms\nM-2,email\n' > m.csv
"$RESEND" --dry-run -q --no-ledger --metrics-file "$T/m.prom" -o m.out.csv m.csv >/dev/null 2>&1
check "metrics: a real run's file parses (job = input base name)" python3 promparse.py m.prom m

# --- keys from every source, against the mock --------------------------------------------
start_mock --api-key sk_test_42 || exit 1
printf 'order_no,channels\nK-1,sms\n' > k.csv
send_with() { # NAME ENV... : one row through the mock with only the given key sources
  local n=$1; shift
  env -u OTTU_API_KEY -u OTTU_API_KEY_FILE -u CREDENTIALS_DIRECTORY "$@" \
    "$RESEND" --base-url "$MOCK_URL" --no-ledger -q --no-preflight -o "k.$n.csv" --overwrite k.csv >"k.$n.out" 2>"k.$n.err"
  echo "$? $(col "k.$n.csv" result_status 2>/dev/null)"
}
printf '\xef\xbb\xbfsk_test_42\r\n' > key.bom; chmod 600 key.bom
check_eq "OTTU_API_KEY_FILE with a BOM and CRLF: used, trimmed" "0 sent" "$(send_with envfile OTTU_API_KEY_FILE="$T/key.bom")"
mkdir -p creds; printf 'sk_test_42\n' > creds/ottu-api-key; chmod 400 creds/ottu-api-key
check_eq "\$CREDENTIALS_DIRECTORY/ottu-api-key (systemd LoadCredential=): used" "0 sent" \
  "$(send_with cred CREDENTIALS_DIRECTORY="$T/creds" OTTU_API_KEY=wrong)"
check_eq "OTTU_API_KEY_FILE wins over the credential and OTTU_API_KEY" "0 sent" \
  "$(send_with order OTTU_API_KEY_FILE="$T/key.bom" CREDENTIALS_DIRECTORY="$T/nowhere" OTTU_API_KEY=wrong)"
printf 'sk_test 42\n' > key.inner; chmod 600 key.inner
r=$(send_with inner OTTU_API_KEY_FILE="$T/key.inner")
check "a key with an inner space: refused (exit 2), the key not echoed" bash -c \
  "[ '${r%% *}' = 2 ] && grep -q 'space at character 8' k.inner.err && ! grep -q sk_test k.inner.err"

# The Kubernetes rule: a group-readable key is accepted on a read-only mount, owned by root,
# in one of the process's groups -- and nowhere else. Needs root (mount, a non-root user).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && mkdir -p ro rw &&
   mount -t tmpfs -o size=64k,mode=0755 tmpfs "$T/ro" 2>/dev/null; then
  mount -t tmpfs -o size=64k,mode=0755 tmpfs "$T/rw"
  for d in ro rw; do
    printf 'sk_test_42\n' > $d/ours;   chown 0:10001 $d/ours;   chmod 0440 $d/ours
    printf 'sk_test_42\n' > $d/theirs; chown 0:10002 $d/theirs; chmod 0440 $d/theirs
    printf 'sk_test_42\n' > $d/world;  chown 0:10001 $d/world;  chmod 0444 $d/world
    ln -s ours $d/link   # Kubernetes mounts each key as a symlink into ..data/
  done
  mount -o remount,ro "$T/ro"
  chmod 755 "$T"; mkdir -m 777 pod
  as_pod() { # KEYFILE: the pod's user (10001, group 10001) sends one row
    (cd pod && env -u OTTU_API_KEY OTTU_API_KEY_FILE="$1" setpriv --reuid=10001 --regid=10001 --clear-groups \
      "$RESEND" --base-url "$MOCK_URL" --no-ledger -q --no-preflight -o "r.$2.csv" ../k.csv >"r.$2.err" 2>&1
     echo "$? $(col "r.$2.csv" result_status 2>/dev/null)")
  }
  check_eq "k8s rule: root:fsGroup 0440 on a read-only mount, through the Secret's symlink: accepted" "0 sent" \
    "$(as_pod "$T/ro/link" ro-ours)"
  check_eq "k8s rule: the same file on a writable mount: refused" "2 " "$(as_pod "$T/rw/ours" rw-ours)"
  check_eq "k8s rule: read-only, but another group's file: refused" "2 " "$(as_pod "$T/ro/theirs" ro-theirs)"
  check_eq "k8s rule: world-readable on a read-only mount: refused" "2 " "$(as_pod "$T/ro/world" ro-world)"
  check "k8s rule: the refusal says why" grep -q "read-only mount" pod/r.rw-ours.err
  umount "$T/ro" "$T/rw"
else
  skip 5 "the read-only-mount key rule needs root, mount and setpriv"
fi
stop_mock

# --- the nightly wrapper against ottu-mock -----------------------------------------------
nightly_checks() {
start_mock --deliveries "$T/deliveries.csv" || exit 1
export TZ=Pacific/Kiritimati   # UTC+14: the local date differs from UTC's for 14 h a day
S="$T/nightly"
{ echo order_no,channels; for i in $(seq 1 6); do echo "N-$i,sms"; done; } > night.csv
nightly() { # runs the installed wrapper with the installed tools first on PATH
  env -u OTTU_API_KEY PATH="$R/usr/bin:$PATH" STATE="$S" EXPORT="cat $T/night.csv" OTTU_BASE_URL="$MOCK_URL" \
    OTTU_API_KEY_FILE="$T/key.plain" RATE=0 METRICS_FILE="$T/nightly.prom" "$@" ottu-resend-nightly
}
printf 'test-key\n' > key.plain; chmod 600 key.plain
nightly >n1.out 2>n1.err; rc=$?
check_eq "nightly: first run OK (exit 0)" "0" "$rc"
check "nightly: prints one OK line" bash -c "[ \$(wc -l < n1.out) = 1 ] && grep -q '^OK: exit 0: 6 rows, sent 6' n1.out"
night=$(date +%F)
check "nightly: the night folder is named by the local date ($night)" test -s "$S/$night/results.csv"
check "nightly: last-run.txt holds the verdict" grep -q "OK: exit 0" "$S/last-run.txt"
check_eq "nightly: six deliveries" "6" "$(grep -c . deliveries.csv)"
nightly >n2.out 2>n2.err; rc=$?
check "nightly: again the same night: already done, nothing sent" bash -c \
  "[ $rc = 0 ] && grep -q 'already done' n2.err && grep -q '^OK' n2.out && [ \$(grep -c . deliveries.csv) = 6 ]"
sum_before=$(md5sum < "$S/last-run.txt")
# another run holds the lock until this one has tried (no fixed sleep either way)
flock "$S/.lock" bash -c 'while [ ! -e lock.release ]; do sleep 0.02; done' & lockpid=$!
while flock -n "$S/.lock" true; do sleep 0.02; done
nightly >n3.out 2>n3.err; rc=$?
touch lock.release; wait $lockpid
check_eq "nightly: a lost lock exits 0" "0" "$rc"
check "nightly: a lost lock is one 'already running' line and nothing on stderr" bash -c \
  "[ \$(wc -l < n3.out) = 1 ] && grep -q 'already running' n3.out && [ ! -s n3.err ]"
check_eq "nightly: a lost lock leaves last-run.txt untouched" "$sum_before" "$(md5sum < "$S/last-run.txt")"
check "nightly: the metrics file parses (job ottu-resend-nightly)" python3 promparse.py nightly.prom ottu-resend-nightly

# Exit 4 (a limit) with a stand-in ottu-resend: PAUSED, then the next run resumes the old
# night first, with --resume, before tonight's job.
mkdir -p fake; cat > fake/ottu-resend <<'SH'
#!/bin/sh
# stand-in: records its arguments; exit 4 with a journal unless --resume
echo "$*" >> "$FAKE_LOG"
out= sj=
while [ $# -gt 0 ]; do case $1 in -o) out=$2; shift;; --summary-json) sj=$2; shift;; esac; shift; done
case " $(tail -1 "$FAKE_LOG") " in
  *" --resume "*) rm -f "$out.journal"; : > "$out"
     echo '{"rows":6,"sent":6,"failed":0,"invalid":0,"duplicate":0,"skipped":0,"not_attempted":0,"unknown":0,"dry_run":0,"requests":4,"retries":0,"exit_code":0,"elapsed_s":1}' > "$sj"; exit 0;;
  *) : > "$out"; : > "$out.journal"
     echo '{"rows":6,"sent":2,"failed":0,"invalid":0,"duplicate":0,"skipped":0,"not_attempted":4,"unknown":0,"dry_run":0,"requests":2,"retries":0,"exit_code":4,"elapsed_s":1,"stopped_by":"budget","resume_after":"2026-11-24T00:00:00.000Z"}' > "$sj"; exit 4;;
esac
SH
chmod 755 fake/ottu-resend
S="$T/nightly4"; export FAKE_LOG="$T/fake.log"
fnightly() { env PATH="$T/fake:$R/usr/bin:$PATH" STATE="$S" EXPORT="cat $T/night.csv" OTTU_BASE_URL=x "$@" ottu-resend-nightly; }
fnightly >f1.out 2>f1.err; rc=$?
check_eq "nightly: exit 4 is PAUSED, exit 0 (the next run resumes)" \
  "0 PAUSED: stopped by budget, the API takes requests again after 2026-11-24T00:00:00.000Z; the next run resumes it" \
  "$rc $(sed "s/: exit 4.*//" f1.out)"
# the paused job belongs to an earlier night now
mv "$S/$night" "$S/2000-01-01"
fnightly >f2.out 2>f2.err; rc=$?
check_eq "nightly: the next run resumes the unfinished night first, then starts tonight" \
  "--resume $S/2000-01-01/input.csv|$S/$night/input.csv" \
  "$(tail -2 "$FAKE_LOG" | sed -n '1s/^\(--resume\) .* \([^ ]*\)$/\1 \2/p;2s/.* //p' | paste -sd'|')"
check_eq "nightly: ... and reports tonight's verdict (PAUSED again here)" "0" "$rc"
check "ottu-resend-check: a summary disagreeing with the exit status is an ALERT" bash -c \
  "PATH='$R/usr/bin:$PATH' ottu-resend-check '$S/2000-01-01/summary.json' 1 | grep -q '^ALERT: exit status 1 but'"
}
# (tests/deps.sh installs jq; without it the wrapper cannot run: its checks are skipped,
# counted, and the checks after them still run)
if command -v jq >/dev/null && command -v flock >/dev/null && [ -e /usr/share/zoneinfo/Pacific/Kiritimati ]; then nightly_checks
else skip 15 "the nightly wrapper needs jq, flock and tzdata (tests/deps.sh installs them)"; fi

# --- every option of the parser is documented: man page, --help, bash completion ---------
opts=$(sed -n '/^static const struct option longopts/,/^};/p' "$ROOT/src/cli.c" | grep -o '{"[a-z-]*"' | tr -d '{"' | grep -vx api-key)
"$RESEND" --help > help.txt
sed 's/\\-/-/g' "$ROOT/docs/ottu-resend.1" > man.txt
lack_man="" lack_help="" lack_comp=""
for o in $opts; do
  grep -q -- "--$o\b" man.txt || lack_man="$lack_man $o"
  grep -q -- "--$o\b" help.txt || lack_help="$lack_help $o"
  grep -q -- "--$o\b" "$ROOT/docs/ottu-resend.bash-completion" || lack_comp="$lack_comp $o"
done
check_eq "man page: every option" "" "$lack_man"
check_eq "--help: every option" "" "$lack_help"
check_eq "bash completion: every option" "" "$lack_comp"
check "man page and --help: exit 4 and what cron does with it" bash -c \
  "grep -q 'resume on the next run' man.txt && grep -q '4 stopped by a limit' help.txt && grep -q 'cron: resume on the next run' help.txt"
