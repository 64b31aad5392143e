"""``directlive bench fanout``: share a live to all followers of one host, on Redis.

Measures the write-time fan-out (every follower gets one feed entry, online ones a push) and,
against the same Redis in the same run, Redis's own pipelined write rate on comparable data,
then prints ONE JSON object: recipients, seconds, recipients_per_s, redis_pipelined_ops_per_s,
ratio, ... Without ``--redis`` it starts its own redis-server on a free loopback port.

The baseline (``redis_pipelined_ops_per_s``) is one HSET per recipient-like key (a new key
shaped like a feed key, field a share id, value a seq), ``--chunk`` commands per round trip,
encoded before the clock starts and written on a plain socket: it measures Redis, as the
fan-out's client does next to nothing per recipient. It runs right after the fan-out, on the
keyspace the fan-out grew, so it does not pay for that growth (rehashing Redis's key table
when it crosses a power of two), which the fan-out did: if anything it favours the baseline.
``redis_py_pipelined_ops_per_s`` is the same writes through redis-py pipelines, bound by the
Python client (packing every command, parsing every reply): the baseline before it changed.
``redis_cpu_us_per_recipient`` is Redis's CPU time (user + system) during the fan-out per
recipient: the server's work, less sensitive than wall time to other load on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from typing import Any

from benchmarks.common import Progress, add_common_arguments, emit, plot_panels
from fanout import Fanout, FanoutConfig
from fanout.redis_launcher import RedisServer
from fanout.redis_store import RedisStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="directlive bench fanout")
    parser.add_argument("--recipients", type=int, default=100_000, help="followers of the host")
    parser.add_argument("--redis", default=None, help="redis:// URL (default: start one)")
    parser.add_argument("--chunk", type=int, default=1000, help="recipients per round trip")
    parser.add_argument("--online", type=int, default=100, help="followers online (pushed to)")
    add_common_arguments(parser)
    return parser


def _command(*args: bytes) -> bytes:
    """One command in RESP, as redis-server reads it."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


def _raw_keys(run: str, count: int) -> list[bytes]:
    """New keys shaped like the fan-out's feed keys (same hash tag and length)."""
    return [f"dl:{{u:bench-{run}-{i:07d}}}:raw".encode() for i in range(count)]


async def _raw_rate(store: RedisStore, run: str, count: int, batch: int) -> float:
    """Pipelined HSETs of ``count`` new keys, ``batch`` per round trip, pre-encoded on a socket."""
    options = store.redis.connection_pool.connection_kwargs
    if "host" not in options:
        raise ValueError("the raw baseline needs a redis:// URL (host and port)")
    keys = _raw_keys(run, count)
    field, value = f"s_{run}{'0' * 8}".encode(), b"1234567"
    payloads = [
        b"".join(_command(b"HSET", key, field, value) for key in keys[i : i + batch])
        for i in range(0, count, batch)
    ]
    reader, writer = await asyncio.open_connection(options["host"], options["port"])
    try:
        hello = []
        if options.get("password"):
            user = (options.get("username") or "default").encode()
            hello.append(_command(b"AUTH", user, str(options["password"]).encode()))
        hello.append(_command(b"SELECT", str(options.get("db") or 0).encode()))
        writer.write(b"".join(hello))
        for _ in hello:
            if (line := await reader.readline()) != b"+OK\r\n":
                raise RuntimeError(f"redis refused the raw connection: {line!r}")
        started = time.perf_counter()
        for i, payload in enumerate(payloads):
            writer.write(payload)
            sent = min(batch, count - i * batch)
            replies = await reader.readexactly(4 * sent)
            if replies != b":1\r\n" * sent:
                raise RuntimeError(f"unexpected HSET replies: {replies[:80]!r}")
        seconds = time.perf_counter() - started
    finally:
        writer.close()
        await writer.wait_closed()
    await _unlink(store, keys)
    return count / seconds


async def _redis_py_rate(store: RedisStore, run: str, count: int, batch: int) -> float:
    """The same HSETs through redis-py pipelines (the Python client bounds this one)."""
    keys = _raw_keys(run + "p", count)
    field, value = f"s_{run}{'0' * 8}", "1234567"
    started = time.perf_counter()
    for i in range(0, count, batch):
        pipe = store.redis.pipeline(transaction=False)
        for key in keys[i : i + batch]:
            pipe.hset(key, field, value)
        await pipe.execute()
    seconds = time.perf_counter() - started
    await _unlink(store, keys)
    return count / seconds


async def _unlink(store: RedisStore, keys: list[bytes]) -> None:
    for i in range(0, len(keys), 10_000):
        await store.redis.unlink(*keys[i : i + 10_000])


async def _redis_cpu(store: RedisStore) -> float:
    """Seconds of CPU redis-server has used (user + system)."""
    info = await store.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _run(
    url: str, recipients: int, chunk: int, online: int, progress: Progress
) -> dict[str, Any]:
    store = RedisStore(url)
    run = secrets.token_hex(4)
    host, live_id = f"bench-{run}-host", f"bench-{run}-live"
    followers = [f"bench-{run}-{i:07d}" for i in range(recipients)]
    node = Fanout(store, node_id=f"bench-{run}", config=FanoutConfig(chunk_size=chunk))
    pushed = 0

    def deliver(user: str, event: object) -> None:
        nonlocal pushed
        pushed += 1

    node.set_local_delivery(deliver)
    try:
        await node.start()
        setup = time.perf_counter()
        await store.ensure_user(host)
        await store.import_followers(host, followers)
        for user in followers[:: max(1, recipients // max(1, online))][:online]:
            await node.user_online(user)
        setup = time.perf_counter() - setup
        progress.advance()
        await node.start_live(host, live_id)
        cpu = await _redis_cpu(store)
        started = time.perf_counter()
        result = await node.sharing.share(host, await node.get_live(live_id), all_followers=True)
        job = await node.followers.join(result.followers_share)
        seconds = time.perf_counter() - started
        cpu = await _redis_cpu(store) - cpu
        progress.advance()
        raw = await _raw_rate(store, run, recipients, chunk)
        raw_py = await _redis_py_rate(store, run, recipients, chunk)
        progress.advance()
    finally:
        await node.close()
        await store.close()
    if job is None or not job.done:
        raise RuntimeError("the fan-out job did not complete")
    rate = recipients / seconds
    return {
        "benchmark": "fanout",
        "store": "redis",
        "recipients": recipients,
        "delivered": job.delivered,
        "pushed": pushed,
        "chunk": chunk,
        "seconds": round(seconds, 4),
        "recipients_per_s": round(rate),
        "redis_pipelined_ops_per_s": round(raw),
        "ratio": round(rate / raw, 3),
        "redis_py_pipelined_ops_per_s": round(raw_py),
        "redis_cpu_us_per_recipient": round(cpu / recipients * 1e6, 2),
        "setup_seconds": round(setup, 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.recipients < 1 or not 1 <= args.chunk <= 5000:
        print("--recipients must be >= 1 and --chunk 1..5000", file=sys.stderr)
        return 2
    server: RedisServer | None = None
    url = args.redis
    try:
        if url is None:
            server = RedisServer()
            url = server.start()
        with Progress("fanout: setup, share, raw", 3, args.progress) as progress:
            result = asyncio.run(_run(url, args.recipients, args.chunk, args.online, progress))
    finally:
        if server is not None:
            server.close()
    emit(result)
    if args.plot:
        rates = {k: result[k] for k in ("recipients_per_s", "redis_pipelined_ops_per_s")}
        plot_panels(args.plot, f"fanout: {args.recipients} recipients", {"per second": rates})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
