"""Loopback Sentry servers for the benchmarks (stdlib only).

    live        answers every request 200 `{}` and counts envelopes and the
                events in them (GET /stats answers the counts as JSON)
    blackhole   accepts connections and never answers (nor closes them)
    closed      a port with nothing listening (connection refused)

Used by bench/run.py (imported), or alone:
    python3 bench/receiver.py live|blackhole   -> prints the port, serves until killed
"""

import gzip
import json
import socket
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.envelopes = 0
        self.events = 0
        self.items = {}

    def add(self, body):
        with self.lock:
            self.requests += 1
            first = body.find(b"\n")
            if not body.strip():
                return
            self.envelopes += 1
            pos = len(body) if first < 0 else first + 1
            # Items: a header line, then a payload of `length` bytes or one line.
            while pos < len(body):
                end = body.find(b"\n", pos)
                end = len(body) if end < 0 else end
                line = body[pos:end].strip()
                pos = end + 1
                if not line:
                    continue
                try:
                    header = json.loads(line)
                except ValueError:
                    continue
                kind = header.get("type", "?") if isinstance(header, dict) else "?"
                self.items[kind] = self.items.get(kind, 0) + 1
                if kind == "event":
                    self.events += 1
                length = header.get("length") if isinstance(header, dict) else None
                if isinstance(length, int):
                    pos += length
                    if body[pos:pos + 1] == b"\n":
                        pos += 1
                else:
                    end = body.find(b"\n", pos)
                    pos = len(body) if end < 0 else end + 1

    def snapshot(self):
        with self.lock:
            return {"requests": self.requests, "envelopes": self.envelopes,
                    "events": self.events, "items": dict(self.items)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one answer, no 40 ms delayed-ACK stall

    def log_message(self, *args):
        pass

    def _reply(self, body=b"{}"):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
        except Exception:
            pass
        self.server.counts.add(body)
        self._reply()

    def do_GET(self):
        self._reply(json.dumps(self.server.counts.snapshot()).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        pass  # a client that closes or resets its connection is no news


class Live:
    def __init__(self):
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.counts = Counts()
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self):
        self.server.counts = Counts()

    def stats(self):
        return self.server.counts.snapshot()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Blackhole:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)  # never read, never answered, never closed

    def reset(self):
        pass

    def stats(self):
        return {"connections": len(self.held)}

    def close(self):
        for c in self.held:
            c.close()
        self.sock.close()


class Closed:
    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()  # nothing listens there now

    def reset(self):
        pass

    def stats(self):
        return {}

    def close(self):
        pass


SERVERS = {"live": Live, "blackhole": Blackhole, "closed": Closed}


if __name__ == "__main__":
    server = SERVERS[sys.argv[1] if len(sys.argv) > 1 else "live"]()
    print(server.port, flush=True)
    threading.Event().wait()
