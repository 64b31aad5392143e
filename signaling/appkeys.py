"""Typed application state shared by the route modules."""

from __future__ import annotations

import asyncio

from aiohttp import web

from fanout import Fanout
from fanout.posts import Posts
from signaling.auth import TokenIssuer
from signaling.config import ServerConfig
from signaling.hub import Hub
from signaling.live_recordings import LiveRecordings
from signaling.lives import LiveService
from signaling.node_beacon import NodeBeacon
from signaling.node_calls import NodeCalls
from signaling.session_ids import SessionIds
from signaling.trickle import SessionTags
from streamer import Streamer

CONFIG = web.AppKey("config", ServerConfig)
TOKENS = web.AppKey("tokens", TokenIssuer)
STREAMER = web.AppKey("streamer", Streamer)
FANOUT = web.AppKey("fanout", Fanout)
HUB = web.AppKey("hub", Hub)
LIVES = web.AppKey("lives", LiveService)
READY = web.AppKey("ready", asyncio.Event)
RECORDINGS = web.AppKey("recordings", LiveRecordings)
POSTS = web.AppKey("posts", Posts)
SESSION_TAGS = web.AppKey("session_tags", SessionTags)
NODE_KEY = web.AppKey("node_key", bytes)
"""Shared by every node of the deployment (``directlive.node_keys``)."""
NODE_CALLS = web.AppKey("node_calls", NodeCalls)
"""Signed calls to other nodes of the deployment (``signaling.node_calls``)."""
SESSION_IDS = web.AppKey("session_ids", SessionIds)
BEACON = web.AppKey("beacon", NodeBeacon)
USER = web.RequestKey("user", str)
