"""Builds the aiohttp application that wires the planes together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from directlive.node_keys import derived_key, node_key
from fanout import Fanout, MemoryStore, Store
from fanout.posts import Posts
from fanout.recordings import Recordings
from recorder import RecorderConfig
from signaling.appkeys import (
    BEACON,
    CONFIG,
    FANOUT,
    HUB,
    LIVES,
    NODE_CALLS,
    NODE_KEY,
    POSTS,
    READY,
    RECORDINGS,
    SESSION_IDS,
    SESSION_TAGS,
    STREAMER,
    TOKENS,
)
from signaling.auth import TokenIssuer, load_secret
from signaling.config import ServerConfig
from signaling.edge_lives import EdgeLives
from signaling.follow_up_routes import add_follow_up_routes
from signaling.hub import Hub
from signaling.live_recordings import LiveRecordings
from signaling.lives import LiveService
from signaling.metrics import get_metrics
from signaling.middleware import auth_middleware, cors_middleware, error_middleware
from signaling.node_beacon import NodeBeacon
from signaling.node_calls import NodeCalls
from signaling.origin_calls import OriginCalls
from signaling.post_routes import add_post_routes, remove_partial_uploads
from signaling.recording_routes import add_recording_routes
from signaling.relay_routes import add_relay_routes
from signaling.room_routes import add_room_routes
from signaling.session_ids import SessionIds
from signaling.social_routes import add_social_routes
from signaling.socket_handler import handle_socket
from signaling.trickle import SessionTags
from signaling.trickle_routes import add_trickle_routes
from signaling.whip_whep import add_media_routes
from streamer import AnyViewerSession, Streamer, check_internals

log = logging.getLogger("directlive.signaling")
STATIC_DIR = Path(__file__).parent / "static"
STORE = web.AppKey("store", Store)


def make_store(config: ServerConfig) -> Store:
    if config.redis_url is None:
        return MemoryStore()
    from fanout.redis_store import RedisStore

    return RedisStore(config.redis_url)


def build_app(config: ServerConfig, store: Store | None = None) -> web.Application:
    """The whole server for one node; planes start and stop with the app."""
    check_internals()
    app = web.Application(
        middlewares=[cors_middleware, error_middleware, auth_middleware],
        client_max_size=max(config.max_json_bytes, config.max_sdp_bytes),
    )
    app[CONFIG] = config
    secret = load_secret(config.secret, config.data_dir)
    app[TOKENS] = TokenIssuer(secret)
    app[NODE_KEY] = node_key(secret)
    app[READY] = asyncio.Event()
    app[SESSION_TAGS] = SessionTags(derived_key(app[NODE_KEY], "session tags"))
    app[SESSION_IDS] = SessionIds(config.node_id, app[NODE_KEY])
    app[STORE] = store if store is not None else make_store(config)
    app[FANOUT] = Fanout(app[STORE], node_id=config.node_id, room_config=config.room)
    app[HUB] = Hub()

    async def on_live_lost(live_id: str) -> None:
        await app[LIVES].on_live_lost(live_id)

    async def on_viewer_gone(session: AnyViewerSession) -> None:
        await app[LIVES].on_viewer_gone(session)

    async def on_participant_lost(live_id: str, user: str) -> None:
        await app[LIVES].on_participant_lost(live_id, user)

    async def on_relay_lost(live_id: str) -> None:
        await app[LIVES].on_relay_lost(live_id)

    async def on_relay_over(live_id: str) -> None:
        await app[LIVES].on_relay_over(live_id)

    async def on_relay_sources_added(live_id: str) -> None:
        await app[LIVES].on_relay_sources_added(live_id)

    app[STREAMER] = Streamer(
        replace(config.media, ice_addresses=config.ice_addresses),
        on_live_lost=on_live_lost,
        on_viewer_gone=on_viewer_gone,
        on_participant_lost=on_participant_lost,
        on_relay_lost=on_relay_lost,
        on_relay_over=on_relay_over,
        on_relay_sources_added=on_relay_sources_added,
    )
    app[STREAMER].enable_relays(config.node_id, app[NODE_KEY])
    app[LIVES] = LiveService(
        app[STREAMER],
        app[FANOUT],
        app[HUB],
        config.max_sessions_per_viewer,
        config.viewer_count_interval,
        config.announce_addresses,
    )
    _add_node_links(app, config)
    app[FANOUT].set_local_delivery(app[HUB].deliver)
    app[FANOUT].set_audience(app[LIVES])
    _add_recordings(app, config)
    app.cleanup_ctx.append(_run_planes)
    app.on_shutdown.append(_close_sockets)

    app.router.add_get("/healthz", get_health)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/ws", handle_socket)
    add_media_routes(app)
    add_trickle_routes(app)
    add_follow_up_routes(app)
    add_social_routes(app)
    add_recording_routes(app)
    add_post_routes(app)
    add_room_routes(app)
    add_relay_routes(app)
    if config.dev:
        from signaling.dev_routes import add_dev_routes

        add_dev_routes(app)
    app.router.add_get("/", get_index)
    app.router.add_get("/favicon.ico", get_favicon)
    app.router.add_static("/static", STATIC_DIR)
    return app


async def _run_planes(app: web.Application) -> AsyncIterator[None]:
    await app[FANOUT].start()
    await app[RECORDINGS].recover()
    await asyncio.to_thread(remove_partial_uploads, app[CONFIG].data_dir)
    await app[LIVES].start()
    app[STREAMER].start()
    await app[BEACON].start()
    app[READY].set()
    log.info("ready node=%s store=%s", app[CONFIG].node_id, type(app[STORE]).__name__)
    yield
    app[READY].clear()
    await app[BEACON].close()
    await app[LIVES].close()
    await app[STREAMER].close()
    await app[RECORDINGS].close()
    await app[FANOUT].close()
    await app[STORE].close()


def _add_node_links(app: web.Application, config: ServerConfig) -> None:
    """Lives that span nodes: the heartbeat, edge pulls and calls to origins."""
    fanout = app[FANOUT]
    url = config.node_url or f"http://{config.host}:{config.port}"
    app[BEACON] = NodeBeacon(fanout.directory, config.node_id, url)
    app[NODE_CALLS] = NodeCalls(fanout.directory, config.node_id, app[NODE_KEY])
    calls = OriginCalls(app[NODE_CALLS])
    lives = app[LIVES]
    lives.session_ids = app[SESSION_IDS]
    lives.cobroadcast.origin_calls = calls

    async def origin_dead(live_id: str) -> None:
        await lives.finish(live_id, reason="host_connection_lost")

    lives.edges = EdgeLives(
        app[STREAMER],
        fanout,
        calls,
        grace=config.media.publisher_grace_seconds,
        on_origin_dead=origin_dead,
        on_ended=lives.on_relay_over,
    )


def _add_recordings(app: web.Application, config: ServerConfig) -> None:
    """Recorded lives (files under ``data_dir/recordings``) and direct posts."""
    fanout = app[FANOUT]
    recordings = Recordings(app[STORE], config.node_id)
    recorder = RecorderConfig(
        config.data_dir / "recordings", min_free_bytes=config.recording_min_free_bytes
    )
    app[RECORDINGS] = LiveRecordings(recorder, recordings, fanout.hub, record_all=config.record_all)
    app[LIVES].recordings = app[RECORDINGS]
    app[POSTS] = Posts(app[STORE], fanout.hub, fanout.direct, recordings, fanout.config)


async def _close_sockets(app: web.Application) -> None:
    """Before aiohttp waits for open handlers: a socket would otherwise hold shutdown."""
    for connection in app[HUB].connections():
        await connection.ws.close(code=1001, message=b"server_shutdown")
    await app[STREAMER].close_relay_links()


async def get_health(request: web.Request) -> web.Response:
    if not request.app[READY].is_set():
        return web.json_response({"status": "starting"}, status=503)
    return web.json_response({"status": "ok"})


async def get_favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def get_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")
