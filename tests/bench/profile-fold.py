#!/usr/bin/env python3
"""profile-fold.py PERF_SCRIPT_OUTPUT — sums `perf script -F comm,tid,ip,sym` samples of an
ottu-resend run (recorded with --call-graph dwarf) into pipeline stages, so a profile reads
as "where does a row's CPU go". Each sample goes to the first stage whose test matches its
stack; then a few functions are shown inclusively."""
import collections
import sys


def read_samples(path):
    samples, cur = [], None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if cur is not None:
                    samples.append(cur)
                cur = None
                continue
            if not line[0].isspace():
                cur = []
                continue
            parts = line.split(None, 1)
            sym = parts[1].strip().replace(" (inlined)", "") if len(parts) > 1 else "?"
            if cur is not None:
                cur.append(sym)
    if cur:
        samples.append(cur)
    return samples


def has(stack, names):
    return any(s in names for s in stack)


POLL = {"__GI___poll", "__poll", "curl_multi_poll"}
SENDRECV = {"__libc_send", "__libc_recv", "__send", "__recv"}
STAGES = [
    ("worker: journal B/O lines (write(2), journal lock, fdatasync)",
     lambda st: has(st, {"journal_begin", "journal_outcome", "journal_release"})),
    ("worker: libcurl poll() in curl_easy_perform",
     lambda st: has(st, {"curl_easy_perform"}) and has(st, POLL)),
    ("worker: libcurl send()/recv() incl. loopback TCP",
     lambda st: has(st, {"curl_easy_perform"}) and has(st, SENDRECV)),
    ("worker: libcurl other (URL parse, headers, conn reuse)",
     lambda st: has(st, {"curl_easy_perform", "curl_easy_setopt"})),
    ("worker: queue/throttle/reorder hand-offs",
     lambda st: has(st, {"queue_pop", "queue_done", "queue_push_delayed", "throttle_acquire",
                         "throttle_release", "reorder_complete"})),
    ("worker: rest (answer message, detail, clocks)", lambda st: has(st, {"worker"})),
    ("writer: reorder_next/release waits and wake-ups", lambda st: has(st, {"reorder_next", "reorder_release"})),
    ("writer: result CSV formatting + stdio", lambda st: has(st, {"writer_main"})),
    ("reader: reorder_acquire/queue_push waits and wake-ups", lambda st: has(st, {"reorder_acquire", "queue_push"})),
    ("reader: CSV parsing (libcsv)", lambda st: has(st, {"reader_next"})),
    ("reader: validation + cJSON body (request_build)", lambda st: has(st, {"request_build", "build_message"})),
    ("reader: dedupe table", lambda st: has(st, {"dedupe_check"})),
    ("reader: rest", lambda st: has(st, {"read_rows", "run", "main"})),
    ("watcher thread", lambda st: has(st, {"watch_main"})),
    ("other (start-up, loader, exit)", lambda st: True),
]
INCLUSIVE = ["curl_easy_perform", "curl_multi_poll", "__GI___libc_write", "fdatasync", "futex_wake",
             "__futex_abstimed_wait_common", "__GI___lll_lock_wait", "curl_maprintf", "curl_url_get",
             "curl_url_set", "__vdso_clock_gettime", "cJSON_PrintPreallocated", "cJSON_Delete",
             "csv_parse", "writer_cells", "row_cells_fill", "dedupe_check"]


def main():
    samples = read_samples(sys.argv[1])
    n = len(samples) or 1
    count = collections.Counter()
    for st in samples:
        for name, test in STAGES:
            if test(st):
                count[name] += 1
                break
    print(f"{len(samples)} samples")
    print("self, by pipeline stage:")
    for name, _ in STAGES:
        print(f"  {100.0 * count[name] / n:5.1f}%  {name}")
    print("inclusive (any thread):")
    for s in INCLUSIVE:
        c = sum(1 for st in samples if s in st)
        print(f"  {100.0 * c / n:5.1f}%  {s}")


if __name__ == "__main__":
    main()
