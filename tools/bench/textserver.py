#!/usr/bin/env python3
"""Text-heavy responses for the compression benchmark.

    textserver.py serve PORT SIZE    each connection gets SIZE octets of JSON lines (an API's
                                     typical output: repeated keys, varied values), then EOF
    textserver.py fetch PORT         reads until EOF; prints "SECONDS OCTETS SHA256"
"""
import hashlib
import os
import random
import socket
import sys
import threading
import time


def body(size: int) -> bytes:
    rng = random.Random(7)
    words = ["shipped", "pending", "cancelled", "returned", "book", "lamp", "desk", "chair", "mug", "pen"]
    lines = []
    total = 0
    n = 0
    while total < size:
        line = ('{"id":%d,"customer":"cust-%05d","status":"%s","items":[{"sku":"%s-%d","qty":%d,"price":%d.%02d}],'
                '"created":"2026-11-%02dT%02d:%02d:%02dZ","note":"%s %s"}\n') % (
            n, rng.randrange(100000), rng.choice(words), rng.choice(words), rng.randrange(1000), rng.randrange(1, 9),
            rng.randrange(1, 500), rng.randrange(100), rng.randrange(1, 29), rng.randrange(24), rng.randrange(60),
            rng.randrange(60), rng.choice(words), rng.choice(words))
        lines.append(line)
        total += len(line)
        n += 1
    return "".join(lines).encode()[:size]


def serve(port: int, size: int):
    data = body(size)
    server = socket.create_server(("127.0.0.1", port))
    parent = os.getppid()
    server.settimeout(0.5)

    def send(conn):
        with conn:
            try:
                conn.sendall(data)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
            except OSError:
                pass  # readiness probes connect and leave at once

    while os.getppid() == parent:
        try:
            conn, _ = server.accept()
        except socket.timeout:
            continue
        threading.Thread(target=send, args=(conn,), daemon=True).start()


def fetch(port: int):
    start = time.monotonic()
    digest = hashlib.sha256()
    total = 0
    with socket.create_connection(("127.0.0.1", port)) as conn:
        while True:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
    print("%.3f %d %s" % (time.monotonic() - start, total, digest.hexdigest()))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "fetch":
        fetch(int(sys.argv[2]))
    elif sys.argv[1] == "digest":
        print(hashlib.sha256(body(int(sys.argv[2]))).hexdigest())
