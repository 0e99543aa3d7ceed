#!/usr/bin/env python3
"""Writes the hand-made seeds of corpus/h1 (tests/fuzz/fuzz_h1.c): byte 0 picks the message kind
(0 request, 1 response, 2 response to HEAD), byte 1 where to split, then the connection bytes.
Only adds files. Standard library only. Run from anywhere: python3 tests/fuzz_replay/make_seeds_h1.py"""
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(kind, split, content):
    data = bytes([kind, split]) + (content.encode("latin-1") if isinstance(content, str) else content)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:12]
    os.makedirs(os.path.join(HERE, "corpus", "h1"), exist_ok=True)
    with open(os.path.join(HERE, "corpus", "h1", name), "wb") as f:
        f.write(data)


H = "POST /upload?x=1 HTTP/1.1\r\nHost: airflow.example.com\r\n"
REQ = [
    "GET / HTTP/1.1\r\nHost: a\r\nCookie: _airgate=abc\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
    "\r\n\nGET / HTTP/1.0\nConnection: keep-alive\n\n",
    H + "Content-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n",
    H + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nT: x\r\n\r\nNEXT",
    H + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
    H + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    H + "Transfer-Encoding: gzip, chunked\r\n\r\n",
    H + "Transfer-Encoding: chunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    H + "Transfer-Encoding:\r\n chunked\r\n\r\n",
    H + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    H + "Content-Length: +5\r\n\r\nhello",
    H + "Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "FOO / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
    "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    H + "Transfer-Encoding: chunked\r\n\r\n0000000000000005\r\nhello\r\n0\r\n\r\n",
    H + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
]
RES = [
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nbinary until close",
    "HTTP/1.0 200 OK\r\n\r\nuntil close",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\nx\r\n0\r\n\r\n",
]
for i, r in enumerate(REQ):
    write(0, (i * 37) % 256, r)
for i, r in enumerate(RES):
    write(1, (i * 53) % 256, r)
write(2, 9, "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")
