#!/usr/bin/env python3
"""client — a small keep-alive HTTP client for ottu-mock's tests (127.0.0.1 only).

  client.py URL PATH N [-c CONCURRENCY] [--body JSON] [--key KEY] [--method M] [--timeout S]
            [--summary]

Sends N requests over CONCURRENCY keep-alive connections (split evenly). Prints one line
per request (its status, "drop" when the connection closed without an answer, "timeout"
when none came within --timeout seconds (default 10); in order when CONCURRENCY is 1), or
with --summary one JSON object: counts per status, "drop", "timeout",
"elapsed" seconds, "retry_after" (the header of the first 429), "max_latency" seconds.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


def worker(host, port, args, n, out, lock):
    conn = None
    headers = {"Content-Type": "application/json", "Authorization": "Api-Key " + args.key}
    for _ in range(n):
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=args.timeout)
        t0 = time.monotonic()
        try:
            conn.request(args.method, args.path, body=args.body.encode(), headers=headers)
            resp = conn.getresponse()
            resp.read()
            item = (resp.status, resp.getheader("Retry-After"), time.monotonic() - t0)
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except TimeoutError:
            conn.close()
            conn = None
            item = ("timeout", None, time.monotonic() - t0)
        except (http.client.HTTPException, ConnectionError, OSError):
            conn.close()
            conn = None
            item = ("drop", None, time.monotonic() - t0)
        with lock:
            out.append(item)
    if conn is not None:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("path")
    p.add_argument("n", type=int)
    p.add_argument("-c", "--concurrency", type=int, default=1)
    p.add_argument("--body", default='{"order_no": "C-1", "channels": ["sms"]}')
    p.add_argument("--key", default="test-key")
    p.add_argument("--method", default="POST")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--summary", action="store_true")
    args = p.parse_args()
    u = urllib.parse.urlsplit(args.url)
    if u.hostname not in ("127.0.0.1", "localhost"):
        sys.exit("client.py talks to 127.0.0.1 only")
    out, lock, threads = [], threading.Lock(), []
    t0 = time.monotonic()
    for i in range(args.concurrency):
        n = args.n // args.concurrency + (1 if i < args.n % args.concurrency else 0)
        t = threading.Thread(target=worker, args=(u.hostname, u.port, args, n, out, lock))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if not args.summary:
        for status, _, _ in out:
            print(status)
        return
    summary = {"elapsed": round(elapsed, 3), "retry_after": None,
               "max_latency": round(max((x[2] for x in out), default=0), 3)}
    for status, retry_after, _ in out:
        summary[str(status)] = summary.get(str(status), 0) + 1
        if status == 429 and summary["retry_after"] is None:
            summary["retry_after"] = retry_after
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
