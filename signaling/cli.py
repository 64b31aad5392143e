"""``directlive``: serve, mint a token, run a benchmark."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import socket
import sys
from pathlib import Path

from aiohttp import web

from directlive.errors import DirectliveError
from fanout import RoomConfig
from signaling.announce import announce_addresses_from_env, parse_announce_addresses
from signaling.auth import DEFAULT_TTL, MAX_TTL, TokenIssuer, load_secret, validate_ttl
from signaling.config import ServerConfig
from signaling.ice_servers import DEFAULT_TURN_TTL, IceServerConfig
from streamer import MediaConfig, default_worker_count

BENCHMARKS = ("fanout", "viewers", "join", "comments", "record", "cascade")


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data-dir", type=Path, default=Path(".directlive"))
    serve.add_argument("--redis", metavar="URL", help="use Redis at URL instead of memory")
    serve.add_argument(
        "--node-id",
        default=os.environ.get("DIRECTLIVE_NODE_ID"),
        help="this node's name on the shared store; default HOSTNAME:PORT (unique per node, "
        "stable across restarts, which end the lives and presence the node left behind)",
    )
    serve.add_argument(
        "--node-url",
        default=os.environ.get("DIRECTLIVE_NODE_URL"),
        metavar="URL",
        help="where the other nodes reach this one (relay links, forwarded guests); "
        "default http://HOST:PORT",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        help="origin allowed to call the API from scripts (repeat; '*' for any)",
    )
    serve.add_argument(
        "--ice-address",
        action="append",
        default=[],
        help="address to offer as ICE host candidate (repeat); default: all, plus 127.0.0.1",
    )
    serve.add_argument(
        "--announce-ip",
        action="append",
        default=[],
        metavar="ADDR",
        help="public address of a 1:1 NAT in front of this host, offered as a candidate on "
        "the ports the server listens on (repeat; or DIRECTLIVE_ANNOUNCE_IP, comma-separated)",
    )
    serve.add_argument(
        "--stun", action="append", default=[], metavar="URL", help="STUN server for clients"
    )
    serve.add_argument(
        "--turn",
        action="append",
        default=[],
        metavar="URL",
        help="TURN server for clients, e.g. turn:turn.example.com:3478?transport=tcp (repeat)",
    )
    serve.add_argument(
        "--turn-secret",
        default=os.environ.get("DIRECTLIVE_TURN_SECRET"),
        help="coturn's static-auth-secret, to mint TURN credentials (or DIRECTLIVE_TURN_SECRET)",
    )
    serve.add_argument(
        "--turn-ttl",
        type=int,
        default=DEFAULT_TURN_TTL,
        metavar="SECONDS",
        help="how long a minted TURN credential stays valid",
    )
    serve.add_argument("--publisher-grace", type=float, default=10.0, metavar="SECONDS")
    serve.add_argument(
        "--relay-idle",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long this node keeps pulling a live from its origin after its last viewer "
        "of it left",
    )
    serve.add_argument("--max-guests", type=int, default=3, help="co-broadcasters per live")
    serve.add_argument(
        "--comments-per-10s", type=int, default=5, help="comments one user may post per 10 s"
    )
    serve.add_argument(
        "--record", action="store_true", help="record every live into DATA_DIR/recordings"
    )
    serve.add_argument(
        "--media-workers",
        type=int,
        default=default_worker_count(),
        metavar="N",
        help="worker processes serving viewers (default: one per core); 0: in this process",
    )
    serve.add_argument(
        "--udp-port",
        type=_udp_port,
        default=_udp_port(os.environ["DIRECTLIVE_UDP_PORT"])
        if os.environ.get("DIRECTLIVE_UDP_PORT")
        else None,
        metavar="BASE",
        help="ICE media on fixed UDP ports: BASE for the main process (publishers), "
        "BASE+1+i for media worker i; default: one ephemeral port per connection",
    )
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument(
        "--dev", action="store_true", help="development mode: a user picker that mints tokens"
    )
    serve.add_argument(
        "--demo", action="store_true", help="with --dev: seed a small world to explore"
    )


def _ttl(text: str) -> int:
    try:
        return validate_ttl(int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from exc
    except DirectliveError as error:
        raise argparse.ArgumentTypeError(error.message) from error


def _udp_port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a UDP port")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="directlive", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    token = sub.add_parser("token", help="print a bearer token for USER")
    token.add_argument("user")
    token.add_argument(
        "--ttl", type=_ttl, default=DEFAULT_TTL, metavar="SECONDS", help=f"1..{MAX_TTL}"
    )
    token.add_argument("--data-dir", type=Path, default=Path(".directlive"))
    bench = sub.add_parser("bench", help="run a benchmark; prints JSON")
    bench.add_argument("name", choices=BENCHMARKS)
    bench.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _network_options(args: argparse.Namespace) -> tuple[tuple[str, ...], IceServerConfig]:
    """``--announce-ip`` (else the environment) and the ICE servers, checked."""
    announced = (
        parse_announce_addresses(args.announce_ip)
        if args.announce_ip
        else announce_addresses_from_env()
    )
    ice_servers = IceServerConfig(
        stun_urls=tuple(args.stun),
        turn_urls=tuple(args.turn),
        turn_secret=args.turn_secret,
        turn_ttl=args.turn_ttl,
    )
    return announced, ice_servers


def serve(args: argparse.Namespace) -> int:
    from signaling.app import build_app

    if args.udp_port is not None and args.udp_port + max(0, args.media_workers) > 65535:
        print(
            f"directlive: --udp-port {args.udp_port} leaves no port for every worker",
            file=sys.stderr,
        )
        return 2

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        announced, ice_servers = _network_options(args)
    except DirectliveError as error:
        print(f"directlive: {error.message}", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        redis_url=args.redis,
        node_id=args.node_id or f"{socket.gethostname()}:{args.port}",
        node_url=args.node_url,
        cors_origins=tuple(args.cors_origin),
        ice_addresses=tuple(args.ice_address),
        announce_addresses=announced,
        ice_servers=ice_servers,
        media=MediaConfig(
            publisher_grace_seconds=args.publisher_grace,
            relay_idle_seconds=args.relay_idle,
            workers=max(0, args.media_workers),
            udp_port=args.udp_port,
        ),
        room=RoomConfig(max_guests=args.max_guests, comments_per_window=args.comments_per_10s),
        record_all=args.record,
        dev=args.dev,
        demo=args.demo,
    )
    try:
        app = build_app(config)
    except OSError as error:  # --udp-port taken
        print(f"directlive: {error.strerror or error}", file=sys.stderr)
        return 2
    web.run_app(app, host=config.host, port=config.port, print=None)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "token":
        try:
            token = TokenIssuer(load_secret(None, args.data_dir)).mint(args.user, ttl=args.ttl)
        except DirectliveError as error:
            print(f"directlive: {error.message}", file=sys.stderr)
            return 2
        print(token)
        return 0
    module = importlib.import_module(f"benchmarks.{args.name}")
    result: int = module.main(args.args)
    return result


if __name__ == "__main__":
    sys.exit(main())
