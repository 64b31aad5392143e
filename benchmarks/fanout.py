"""``directlive bench fanout``: share a live to all followers of one host, on Redis.

Measures the write-time fan-out (every follower gets one feed entry, online ones a push) and,
against the same Redis in the same run, raw pipelined HSETs of as many keys, then prints ONE
JSON object: recipients, seconds, recipients_per_s, redis_pipelined_ops_per_s, ratio, ...
Without ``--redis`` it starts its own redis-server on a free loopback port.
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


async def _raw_rate(store: RedisStore, run: str, count: int, batch: int) -> float:
    """Pipelined HSETs of ``count`` distinct keys, ``batch`` commands per round trip."""
    keys = [f"bench:{run}:raw:{i}" for i in range(count)]
    started = time.perf_counter()
    for i in range(0, count, batch):
        pipe = store.redis.pipeline(transaction=False)
        for key in keys[i : i + batch]:
            pipe.hset(key, "s", "1")
        await pipe.execute()
    seconds = time.perf_counter() - started
    for i in range(0, count, 10_000):
        await store.redis.unlink(*keys[i : i + 10_000])
    return count / seconds


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
        started = time.perf_counter()
        result = await node.sharing.share(host, await node.get_live(live_id), all_followers=True)
        job = await node.followers.join(result.followers_share)
        seconds = time.perf_counter() - started
        progress.advance()
        raw = await _raw_rate(store, run, recipients, chunk)
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
