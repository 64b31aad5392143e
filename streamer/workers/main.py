"""Entry point of a media worker process: ``python -m streamer.workers.main --fd N --config
JSON``, started by ``streamer.workers.pool`` (kept apart from ``streamer.workers.process`` so
that running it does not import the module it runs twice)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket

from streamer.workers.process import MediaWorker
from streamer.workers.settings import WorkerSettings


async def serve(fd: int, settings: WorkerSettings) -> None:
    worker = MediaWorker(settings)
    sock = socket.socket(fileno=fd)
    await asyncio.get_running_loop().create_unix_connection(lambda: worker.wire, sock=sock)
    try:
        await worker.wire.closed
    finally:
        await worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="a directlive media worker (started by serve)")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    settings = WorkerSettings.from_json(args.config)
    logging.basicConfig(
        level=settings.log_level,
        format=f"%(asctime)s worker-{settings.index} %(levelname)s %(name)s: %(message)s",
    )
    # Ctrl-C reaches the whole process group; the main process decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.fd, settings))


if __name__ == "__main__":
    main()
