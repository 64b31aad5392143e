"""A node's relay links, as origin (links feeding edges) and as edge (pulls from origins)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from directlive.errors import Conflict, NotFound, Unavailable
from streamer.config import MediaConfig
from streamer.forwarding.datagrams import UdpGso
from streamer.live import MediaLive
from streamer.relay import handshake
from streamer.relay.channel import ChannelClosed, RelayChannel
from streamer.relay.cipher import NONCE_BYTES
from streamer.relay.edge import RelayedMedia
from streamer.relay.origin import OriginLink
from streamer.relay.pull import RelayPull
from streamer.relay.stats import RelayStats
from streamer.stats import ForwardingStats

log = logging.getLogger("directlive.streamer")

LiveCallback = Callable[[str], Awaitable[None]]
Spawn = Callable[[Awaitable[None]], None]


class Relays:
    """Origin links by live, edge pulls by live, and the edge's idle timers."""

    def __init__(
        self,
        lives: dict[str, MediaLive],
        config: MediaConfig,
        media_stats: ForwardingStats,
        gso: UdpGso,
        spawn: Spawn,
    ) -> None:
        self.stats = RelayStats()
        self.node_id = ""
        self._key: bytes | None = None
        self._lives = lives
        self._config = config
        self._media_stats = media_stats
        self._gso = gso
        self._spawn = spawn
        self._links: dict[str, set[OriginLink]] = {}
        self._pulls: dict[str, RelayPull] = {}
        self._idle: dict[str, asyncio.TimerHandle] = {}
        self._http: aiohttp.ClientSession | None = None
        self.on_lost: LiveCallback | None = None
        """Awaited when an edge's link drops without the origin ending the live."""
        self.on_over: LiveCallback | None = None
        """Awaited when the origin ends a live this edge relays (the callee ends it here)."""
        self.on_sources_added: LiveCallback | None = None
        """Awaited when a relayed live gains sources (a guest came on at the origin)."""

    def enable(self, node_id: str, node_key: bytes) -> None:
        self.node_id = node_id
        self._key = node_key

    @property
    def links_open(self) -> int:
        """Relay links open on this node, as origin and as edge."""
        feeding = sum(len(links) for links in self._links.values())
        return feeding + sum(1 for pull in self._pulls.values() if pull.connected)

    def relayed(self, live_id: str) -> bool:
        return live_id in self._pulls

    def links_of(self, live_id: str) -> int:
        return len(self._links.get(live_id, ()))

    def feeds(self, live_id: str, edge: str) -> bool:
        """Whether a link of this node feeds the live to ``edge`` now."""
        return any(link.edge_node == edge for link in self._links.get(live_id, ()))

    # -- origin ------------------------------------------------------------------------------
    def serves_origin(self, live_id: str) -> bool:
        return self._key is not None and live_id in self._lives and live_id not in self._pulls

    async def serve(
        self,
        live_id: str,
        socket: web.WebSocketResponse,
        edge_nonce: bytes,
        on_open: Callable[[str], Awaitable[None]],
    ) -> str | None:
        """Feed the live to the edge on ``socket`` until the link closes; the edge's node id,
        or None when it did not authenticate or the live is gone."""
        if self._key is None or len(edge_nonce) != NONCE_BYTES:
            return None
        try:
            channel, edge = await asyncio.wait_for(
                handshake.accept(socket, self._key, live_id, edge_nonce),
                handshake.HANDSHAKE_TIMEOUT,
            )
        except (ChannelClosed, TimeoutError) as exc:
            log.warning("relay link refused live=%s: %r", live_id, exc)
            return None
        link = OriginLink(
            live_id=live_id,
            edge_node=edge,
            channel=channel,
            stats=self.stats,
            on_closed=self._link_closed,
        )
        live = self._lives.get(live_id)
        if live is None or live_id in self._pulls:
            await link.end()
            return None
        self._links.setdefault(live_id, set()).add(link)
        link.sync(live.relayed_sources(), live.layer_sets(), host=live.host)
        log.info("relay link accepted live=%s edge=%s", live_id, edge)
        try:
            await on_open(edge)
            await link.run()
        finally:
            await link.close()
        return edge

    def _link_closed(self, link: OriginLink) -> None:
        links = self._links.get(link.live_id)
        if links is not None:
            links.discard(link)
            if not links:
                del self._links[link.live_id]

    def sync(self, live_id: str) -> None:
        """Feed every link of the live the sources it lacks (a guest came on)."""
        live = self._lives.get(live_id)
        if live is None:
            return
        for link in list(self._links.get(live_id, ())):
            link.sync(live.relayed_sources(), live.layer_sets())

    # -- edge --------------------------------------------------------------------------------
    async def pull(self, live_id: str, origin_url: str) -> None:
        """Make the live's media local, pulled from ``origin_url``; returns once its sources
        are all here."""
        if self._key is None:
            raise NotFound("this node relays no live", code="live_not_found")
        if live_id in self._lives and live_id not in self._pulls:
            return
        pull = self._pulls.get(live_id)
        if pull is None:
            media = RelayedMedia(
                live_id,
                self._media_stats,
                self._gso,
                self._config.keyframe_interval,
                self._config.viewer_queue_limit,
                self._config.relay_layer_grace_seconds,
            )
            pull = RelayPull(
                media,
                self._connect(live_id),
                self.stats,
                on_sources_changed=lambda: self._sources_changed(live_id),
                on_lost=self._pull_lost,
                on_over=self._pull_over,
            )
            self._pulls[live_id] = pull
        try:
            await pull.open(origin_url)
        except BaseException:
            if self._pulls.get(live_id) is pull and live_id not in self._lives:
                del self._pulls[live_id]
                await pull.close()
            raise
        if self._pulls.get(live_id) is not pull:
            raise Unavailable("the relay of this live closed", code="relay_closed")
        if live_id not in self._lives:
            # The edge's live shares the participants dict: the link adds and removes them.
            self._lives[live_id] = MediaLive(
                live_id=live_id,
                host=pull.media.host,
                publishers=pull.media.participants,
            )
        self.watching(live_id)

    def _connect(self, live_id: str) -> Callable[[str], Awaitable[RelayChannel]]:
        async def connect(origin_url: str) -> RelayChannel:
            assert self._key is not None
            if self._http is None:
                self._http = aiohttp.ClientSession()
            return await handshake.connect(self._http, origin_url, self._key, self.node_id, live_id)

        return connect

    def _sources_changed(self, live_id: str) -> None:
        if self.on_sources_added is not None:
            self._spawn(self.on_sources_added(live_id))

    def _pull_lost(self, live_id: str) -> None:
        log.info("relay link lost live=%s", live_id)
        if self.on_lost is not None:
            self._spawn(self.on_lost(live_id))

    def _pull_over(self, live_id: str) -> None:
        log.info("relay: the origin ended live=%s", live_id)
        if self.on_over is not None:
            self._spawn(self.on_over(live_id))

    def watching(self, live_id: str) -> None:
        """A viewer attached: the pull is not idle."""
        timer = self._idle.pop(live_id, None)
        if timer is not None:
            timer.cancel()

    def viewers_changed(self, live_id: str) -> None:
        """A viewer left: close the pull a while after the edge's last viewer."""
        live = self._lives.get(live_id)
        if live_id not in self._pulls or live is None or live.viewers or live_id in self._idle:
            return
        loop = asyncio.get_running_loop()
        self._idle[live_id] = loop.call_later(
            self._config.relay_idle_seconds, self._idle_expired, live_id
        )

    def _idle_expired(self, live_id: str) -> None:
        self._idle.pop(live_id, None)
        live = self._lives.get(live_id)
        if live is not None and not live.viewers and live_id in self._pulls:
            log.info("relay idle, closing live=%s", live_id)
            del self._lives[live_id]
            self._spawn(self.drop(live_id))

    async def drop(self, live_id: str) -> None:
        """Close the live's pull (edge) or links (origin), telling edges the live is over."""
        self.watching(live_id)
        pull = self._pulls.pop(live_id, None)
        if pull is not None:
            await pull.close()
        for link in list(self._links.pop(live_id, ())):
            await link.end()

    def refuse_publish(self, live_id: str) -> None:
        if live_id in self._pulls:
            raise Conflict("this live is published on another node", code="live_on_other_node")

    async def close(self) -> None:
        """This node stops: its links drop without ``relay.end`` (its lives did not end; edges
        treat it as this node gone), and its pulls close. No link opens after this."""
        self._key = None
        for live_id in list(self._idle):
            self.watching(live_id)
        for links in list(self._links.values()):
            for link in list(links):
                await link.close()
        self._links.clear()
        pulls, self._pulls = self._pulls, {}
        for pull in pulls.values():
            await pull.close()
        if self._http is not None:
            await self._http.close()
