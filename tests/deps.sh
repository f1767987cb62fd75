#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only when some are missing.
set -u
# libssl-dev: http.c hands every TLS connection one shared OpenSSL trust store (issue 20).
# postgresql, libpq-dev: the PostgreSQL ledger and its tests (issue 17).
# nginx-light: a real HTTP/2 server (TLS) for the --http2 tests (test_http2.sh).
# libclang-rt-dev: clang's sanitizer runtimes (make asan, make tsan).
# What the tests use besides (a test that lacks one prints a counted SKIP, so install them):
# jq, tzdata (the nightly wrapper, TZ=Pacific/Kiritimati), python3-yaml (the Kubernetes and
# Prometheus YAML), systemd (systemd-analyze verify), dash (/bin/sh syntax), strace (no
# connect() before a refusal), prometheus and prometheus-node-exporter (a real Prometheus
# reads the metrics file), libreoffice-calc-nogui and poppler-utils (the workbook printed by
# LibreOffice and looked at as a page).
pkgs="build-essential pkg-config clang libclang-rt-dev libcsv-dev libcurl4-openssl-dev libssl-dev libcjson-dev
      libcmocka-dev libmicrohttpd-dev libxlsxwriter-dev libsqlite3-dev sqlite3 libpq-dev postgresql unzip curl
      python3 valgrind time openssl nginx-light
      jq tzdata python3-yaml systemd dash strace util-linux prometheus prometheus-node-exporter
      libreoffice-calc-nogui poppler-utils"
missing=()
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
