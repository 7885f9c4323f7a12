#!/usr/bin/env python3
"""A simulated slow link for benchmarks: a TCP proxy that paces each direction to RATE bit/s
(token bucket, 16 KiB bursts) and adds a one-way DELAY, in user space (no tc netem here).

    slowlink.py LISTEN_PORT TARGET_PORT [--rate 50e6] [--delay-ms 10]

Listens on 127.0.0.1 only; stops when its parent dies (it polls getppid)."""
import argparse
import asyncio
import os
import time


class Pacer:
    """Shared by all connections in one direction: the link's capacity, not a per-connection one."""

    def __init__(self, rate_bytes: float):
        self.rate = rate_bytes
        self.next_free = time.monotonic()

    async def send_time(self, size: int) -> float:
        now = time.monotonic()
        start = max(now, self.next_free)
        self.next_free = start + size / self.rate
        return self.next_free


async def pipe(reader, writer, pacer: Pacer, delay: float):
    queue: asyncio.Queue = asyncio.Queue()

    async def deliver():
        while True:
            item = await queue.get()
            if item is None:
                break
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except OSError:
            pass

    task = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(16384)
            if not data:
                break
            done = await pacer.send_time(len(data))
            # Pace the reader too, so the sender feels the link (TCP backpressure through us).
            wait = done - time.monotonic() - 0.05
            if wait > 0:
                await asyncio.sleep(wait)
            await queue.put((done + delay, data))
    except (ConnectionError, OSError):
        pass
    await queue.put(None)
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("listen", type=int)
    parser.add_argument("target", type=int)
    parser.add_argument("--rate", type=float, default=50e6, help="bit/s each way")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay")
    args = parser.parse_args()
    up, down = Pacer(args.rate / 8), Pacer(args.rate / 8)
    delay = args.delay_ms / 1000

    async def handle(reader, writer):
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", args.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, target_writer, up, delay), pipe(target_reader, writer, down, delay))
        writer.close()
        target_writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.listen)
    parent = os.getppid()
    async with server:
        while os.getppid() == parent:
            await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
