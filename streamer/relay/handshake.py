"""Opening a relay link: who sends which nonce, and the sealed hello that authenticates it.

1. The edge connects to ``{origin}/internal/relay/{live_id}`` with its nonce (hex) in
   ``X-Directlive-Relay-Nonce``.
2. The origin answers with its own nonce, the one message sent in clear.
3. Both derive the link's keys (``cipher.link_ciphers``); the edge's first sealed message is
   ``Hello`` (its node id and the live): the origin feeds nothing before it opens.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from streamer.relay.channel import (
    HEARTBEAT_SECONDS,
    MAX_MESSAGE_BYTES,
    ChannelClosed,
    RelayChannel,
)
from streamer.relay.cipher import NONCE_BYTES, link_ciphers, new_nonce
from streamer.relay.messages import Hello, relay_from_wire, relay_to_wire
from streamer.workers.messages import BadMessage

NONCE_HEADER = "X-Directlive-Relay-Nonce"
HANDSHAKE_TIMEOUT = 5.0


def relay_path(live_id: str) -> str:
    return f"/internal/relay/{live_id}"


async def accept(
    socket: web.WebSocketResponse, node_key: bytes, live_id: str, edge_nonce: bytes
) -> tuple[RelayChannel, str]:
    """The origin's side; returns the channel and the edge's node id. ``ChannelClosed`` when
    the edge does not prove it holds the node key."""
    origin_nonce = new_nonce()
    await socket.send_bytes(origin_nonce)
    _, origin_cipher = link_ciphers(node_key, live_id, edge_nonce, origin_nonce)
    channel = RelayChannel(socket, origin_cipher)
    try:
        hello = relay_from_wire(await channel.receive())
    except (ChannelClosed, BadMessage):
        await channel.close(flush=0)
        raise ChannelClosed("relay link: the edge did not authenticate") from None
    if not isinstance(hello, Hello) or hello.live_id != live_id:
        await channel.close(flush=0)
        raise ChannelClosed("relay link: the hello names another live")
    return channel, hello.node


async def connect(
    http: aiohttp.ClientSession, origin_url: str, node_key: bytes, node_id: str, live_id: str
) -> RelayChannel:
    """The edge's side: a channel to the origin, hello sent. Raises ``ChannelClosed``,
    ``aiohttp.ClientError`` or ``TimeoutError`` when the origin cannot be reached."""
    edge_nonce = new_nonce()
    socket = await http.ws_connect(
        origin_url.rstrip("/") + relay_path(live_id),
        headers={NONCE_HEADER: edge_nonce.hex()},
        max_msg_size=MAX_MESSAGE_BYTES,
        heartbeat=HEARTBEAT_SECONDS,
        timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
    )
    try:
        first = await socket.receive(timeout=HANDSHAKE_TIMEOUT)
    except BaseException:
        await socket.close()
        raise
    if first.type != aiohttp.WSMsgType.BINARY or len(first.data) != NONCE_BYTES:
        await socket.close()
        raise ChannelClosed("relay link: the origin sent no nonce")
    edge_cipher, _ = link_ciphers(node_key, live_id, edge_nonce, first.data)
    channel = RelayChannel(socket, edge_cipher)
    channel.send(relay_to_wire(Hello(node_id, live_id)))
    return channel
