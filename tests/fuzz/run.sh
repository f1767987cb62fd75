#!/usr/bin/env bash
# make fuzz: builds each libFuzzer target with clang (ASan+UBSan) into build-fuzz/ and runs
# it for FUZZ_SECONDS (default 60) from the seed corpus in tests/fuzz/corpus/<target>/.
# Crashes are saved in build-fuzz/; copy them into the corpus as regression seeds.
set -u
cd "$(dirname "$0")/../.."
secs="${FUZZ_SECONDS:-60}"
out=build-fuzz
mkdir -p "$out"
flags="-std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -DOTTU_VERSION=\"fuzz\" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
srcs="src/rules.c src/clock.c src/text.c src/encoding.c src/record.c src/reader.c src/reader_detect.c src/columns.c src/request.c src/request_attach.c src/writer.c src/jsonutil.c src/retry.c src/job.c"
pass=0 fail=0
for t in csv channels recipient response; do
  if ! clang $flags "tests/fuzz/fuzz_$t.c" $srcs -lcsv -lcjson -lcurl -o "$out/fuzz_$t" 2>"$out/fuzz_$t.build.log"; then
    echo "not ok - fuzz_$t builds"; cat "$out/fuzz_$t.build.log"; fail=$((fail + 1)); continue
  fi
  mkdir -p "$out/corpus_$t"
  if (cd "$out" && "./fuzz_$t" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        "corpus_$t" "../tests/fuzz/corpus/$t" >"fuzz_$t.log" 2>&1); then
    echo "ok - fuzz_$t ran ${secs}s without a crash ($(grep -c '' "$out/fuzz_$t.log") log lines)"; pass=$((pass + 1))
  else
    echo "not ok - fuzz_$t found a problem:"; tail -30 "$out/fuzz_$t.log"; fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
