#!/usr/bin/env bash
# gen-curl-config.sh URL API_KEY < input.csv — prints a curl config (-K) with one block per
# data row of an order_no,channels CSV: the same POST ottu-resend sends for the row. Blocks
# are separated by `next`; without it curl would merge every `data` into one body.
set -eu
url="${1:?usage: gen-curl-config.sh URL API_KEY < input.csv}"
key="${2:?usage: gen-curl-config.sh URL API_KEY < input.csv}"
awk -F, -v url="$url" -v key="$key" 'NR > 1 {
    if (NR > 2) print "next"
    printf "url = \"%s\"\n", url
    printf "data = \"{\\\"order_no\\\":\\\"%s\\\",\\\"channels\\\":[\\\"%s\\\"]}\"\n", $1, $2
    print "header = \"Content-Type: application/json\""
    printf "header = \"Authorization: Api-Key %s\"\n", key
    print "output = \"/dev/null\""
    print "write-out = \"%{http_code}\\\\n\""
}'
