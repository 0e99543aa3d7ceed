#!/usr/bin/env python3
"""A tiny JWKS + discovery server for the key-rotation tests.

Usage: jwks_server.py DIR [--tls]
With --tls it serves HTTPS with DIR/tls.crt and DIR/tls.key. Binds 127.0.0.1 on a port chosen by the OS and prints one JSON line {"port": N, "issuer": URL}.
Everything it serves is read from DIR at request time, so a test changes behaviour by writing files:
  DIR/jwks.json   the key set served at /jwks.json
  DIR/mode        ok (default) | down (503) | slow:SECONDS | malformed | giant | hang
  DIR/issuer      optional: the issuer put in the discovery document (default: our own URL)
GET /_count returns how many requests /jwks.json has received.
"""
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]
SCHEME = "https" if "--tls" in sys.argv[2:] else "http"
COUNT = {"jwks": 0}
LOCK = threading.Lock()


def read(name, default=""):
    try:
        with open(os.path.join(DIR, name), "r", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return default


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep ctest output clean
        pass

    def send(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        base = "%s://127.0.0.1:%d" % (SCHEME, self.server.server_address[1])
        if self.path == "/_count":
            with LOCK:
                return self.send(200, str(COUNT["jwks"]), "text/plain")
        if self.path == "/.well-known/openid-configuration":
            doc = {
                "issuer": read("issuer", base) or base,
                "jwks_uri": base + "/jwks.json",
                "authorization_endpoint": base + "/auth",
                "token_endpoint": base + "/token",
            }
            return self.send(200, json.dumps(doc))
        if self.path != "/jwks.json":
            return self.send(404, "{}")
        with LOCK:
            COUNT["jwks"] += 1
        mode = read("mode", "ok") or "ok"
        if mode == "down":
            return self.send(503, "unavailable", "text/plain")
        if mode.startswith("slow:"):
            time.sleep(float(mode[5:]))
        if mode == "malformed":
            return self.send(200, '{"keys":[{"kty":"RSA",')
        if mode == "giant":
            return self.send(200, '{"keys":[],"pad":"' + "x" * (2 * 1024 * 1024) + '"}')
        return self.send(200, read("jwks.json", '{"keys":[]}'))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are part of the tests


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    if SCHEME == "https":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(DIR, "tls.crt"), os.path.join(DIR, "tls.key"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    print(json.dumps({"port": port, "issuer": "%s://127.0.0.1:%d" % (SCHEME, port)}), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
