"""A deliberately misbehaving HTTP server on 127.0.0.1 for the hostile-response tests.
What it does depends on the order_no it receives; it prints its port first."""
import json
import socket
import sys
import threading
import time


def answer(conn, status, body, ctype="application/json", extra=""):
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    conn.sendall(head.encode() + body)


def handle(conn):
    conn.settimeout(30)
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, rest = buf.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v.strip())
            while len(rest) < length:
                rest += conn.recv(65536)
            body, buf = rest[:length], rest[length:]
            order = json.loads(body or b"{}").get("order_no", "")
            if order.startswith("HUGE"):
                answer(conn, "200 OK", b'{"message": "' + b"x" * (8 << 20) + b'"}')
            elif order.startswith("BADJSON"):
                answer(conn, "200 OK", b"{not json \x1b[31m at all")
            elif order.startswith("HTML"):
                answer(conn, "502 Bad Gateway", b"<html><body>\x1b]0;pwned\x07Bad gateway</body></html>", "text/html")
            elif order.startswith("RESET"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"mess")
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
                return
            elif order.startswith("REDIRECT"):
                answer(conn, "302 Found", b"{}", extra="Location: http://127.0.0.2:9/elsewhere\r\n")
            elif order.startswith("HANG"):
                time.sleep(5)
                return
            else:
                answer(conn, "200 OK", b'{"message": "Customer notified."}')
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print(srv.getsockname()[1], flush=True)
    deadline = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 60)
    srv.settimeout(1)
    while time.time() < deadline:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


main()
