"""The media plane's entry point: lives, their publishers and viewers on this node."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import fields

from aiohttp import web

from directlive.errors import Conflict, NotFound
from streamer.aiortc import HostAddresses, check_internals
from streamer.aiortc.udp_mux import UdpMux
from streamer.config import MediaConfig
from streamer.forwarding.datagrams import UdpGso
from streamer.layers.viewer_layers import count_layer_viewers
from streamer.live import MediaLive
from streamer.publisher import PublisherSession
from streamer.relay.edge import AnyPublisher
from streamer.relay.relays import Relays
from streamer.relay.stats import RelayStats
from streamer.source import TrackSource
from streamer.stats import ForwardingStats
from streamer.viewer import AnyViewerSession, SourceWithCodec, ViewerSession
from streamer.workers.pool import WorkerPool
from streamer.workers.remote_viewer import RemoteViewerSession
from streamer.workers.settings import WorkerSettings

log = logging.getLogger("directlive.streamer")

LiveCallback = Callable[[str], Awaitable[None]]
ParticipantCallback = Callable[[str, str], Awaitable[None]]
ViewerCallback = Callable[[AnyViewerSession], Awaitable[None]]
_COUNTED_BY_MAIN = ("frames_received", "keyframe_requests_upstream")
"""Counted where the publishers are; a worker's copies of the sources count them again."""


class Streamer:
    """Owns every media session on this node. Knows nothing of users beyond their ids.

    ``on_live_lost(live_id)`` is awaited when the host's connection stayed dead for the
    grace period; ``on_participant_lost(live_id, user)`` when a guest's connection died;
    ``on_viewer_gone(session)`` when a viewer's connection dies by itself.

    With ``config.workers`` > 0, viewers are served by that many worker processes
    (``streamer.workers``); publishers always stay in this process.

    Signaling uses only the methods here; ``get`` and ``lives`` hand out the media state
    itself (``MediaLive``, not part of the package face) for tests and benchmarks.
    """

    def __init__(
        self,
        config: MediaConfig | None = None,
        *,
        on_live_lost: LiveCallback | None = None,
        on_viewer_gone: ViewerCallback | None = None,
        on_participant_lost: ParticipantCallback | None = None,
        on_relay_lost: LiveCallback | None = None,
        on_relay_over: LiveCallback | None = None,
        on_relay_sources_added: LiveCallback | None = None,
    ) -> None:
        check_internals()
        self.config = config or MediaConfig()
        self.stats = ForwardingStats()
        self.host_addresses = HostAddresses(self.config.ice_addresses)
        """The host candidates this streamer's peer connections offer."""
        self.gso = UdpGso(self.config.udp_gso)
        """Whether this streamer sends UDP GSO batches (off once the kernel refuses)."""
        self._lives: dict[str, MediaLive] = {}
        self._on_live_lost = on_live_lost
        self._on_viewer_gone = on_viewer_gone
        self._on_participant_lost = on_participant_lost
        self._grace_timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.relays = Relays(self._lives, self.config, self.stats, self.gso, self._spawn)
        """Relay links to other nodes (``streamer.relay``), off until ``enable_relays``."""
        self.relays.on_lost = on_relay_lost
        self.relays.on_over = on_relay_over
        self.relays.on_sources_added = on_relay_sources_added
        self.udp_mux: UdpMux | None = None
        """The main process's shared UDP port (``config.udp_port``), or None."""
        udp_port = self.config.udp_port
        if udp_port is not None:  # udp-port call site
            self.udp_mux = UdpMux(udp_port, self.stats)
            self.udp_mux.bind_host_addresses(self.host_addresses)
        self.workers: WorkerPool | None = None
        if self.config.workers > 0:
            settings = WorkerSettings(
                ice_addresses=self.config.ice_addresses,
                udp_port=None if udp_port is None else udp_port + 1,
                fast_forwarding=self.config.fast_forwarding,
                udp_gso=self.config.udp_gso,
                viewer_queue_limit=self.config.viewer_queue_limit,
                log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()),
            )
            self.workers = WorkerPool(self.config.workers, settings, self._viewer_lost)

    def start(self) -> None:
        """Start the worker processes now rather than at the first viewer."""
        if self.workers is not None:
            self.workers.start()

    async def refresh_forwarding_stats(self) -> None:
        """Fetch the workers' counters, for ``forwarding_totals``."""
        count_layer_viewers(
            self.stats,
            (
                choice
                for live in self._lives.values()
                for session in live.viewers.values()
                if isinstance(session, ViewerSession)
                for choice in session.layered.values()
            ),
        )
        if self.workers is not None:
            await self.workers.refresh_stats()

    def forwarding_totals(self) -> ForwardingStats:
        """This process's counters plus the workers' (as of ``refresh_forwarding_stats``)."""
        if self.workers is None:
            return self.stats
        remote = self.workers.totals()
        total = ForwardingStats()
        for field in fields(ForwardingStats):
            name = field.name
            extra = 0 if name in _COUNTED_BY_MAIN else getattr(remote, name)
            setattr(total, name, getattr(self.stats, name) + extra)
        return total

    # -- relay links between nodes (``streamer.relay``) ---------------------------------------
    def enable_relays(self, node_id: str, node_key: bytes) -> None:
        """Serve this node's lives to edge nodes, and pull other nodes' lives, authenticated
        with ``node_key`` (every node of the deployment derives the same)."""
        self.relays.enable(node_id, node_key)

    @property
    def relay_stats(self) -> RelayStats:
        return self.relays.stats

    @property
    def relay_links_open(self) -> int:
        return self.relays.links_open

    def has_media(self, live_id: str) -> bool:
        """Whether the live's media is on this node (published here, or relayed)."""
        return live_id in self._lives

    def is_relayed(self, live_id: str) -> bool:
        """Whether this node pulls the live from its origin."""
        return self.relays.relayed(live_id)

    def serves_origin(self, live_id: str) -> bool:
        """Whether edges may pull the live from this node (it is published here)."""
        return self.relays.serves_origin(live_id)

    def relay_links_of(self, live_id: str) -> int:
        """Edges this node feeds the live to."""
        return self.relays.links_of(live_id)

    def feeds_edge(self, live_id: str, edge: str) -> bool:
        """Whether a relay link of this node feeds the live to the node ``edge`` now."""
        return self.relays.feeds(live_id, edge)

    async def relay_from(self, live_id: str, origin_url: str) -> None:
        """Pull the live from its origin at ``origin_url`` (one link, shared by every viewer
        here), unless its media is here already."""
        await self.relays.pull(live_id, origin_url)

    async def serve_relay(
        self,
        live_id: str,
        socket: web.WebSocketResponse,
        edge_nonce: bytes,
        on_open: Callable[[str], Awaitable[None]],
    ) -> str | None:
        """Feed the live to the edge on ``socket`` until the link closes (``on_open`` is
        awaited with the edge's node id once it authenticated); returns that id, or None."""
        return await self.relays.serve(live_id, socket, edge_nonce, on_open)

    @staticmethod
    def new_live_id() -> str:
        return secrets.token_urlsafe(16)

    def get(self, live_id: str) -> MediaLive:
        """The live's media state (tests, benchmarks); signaling uses the methods below."""
        live = self._lives.get(live_id)
        if live is None:
            raise NotFound("no such live on this node", code="live_not_found")
        return live

    def lives(self) -> list[MediaLive]:
        return list(self._lives.values())

    @property
    def live_count(self) -> int:
        return len(self._lives)

    def lives_hosted_by(self, user: str) -> list[str]:
        """Ids of the lives on this node whose host is ``user``."""
        return [live.live_id for live in self._lives.values() if live.host == user]

    def host_of(self, live_id: str) -> str:
        return self.get(live_id).host

    def participants(self, live_id: str) -> list[str]:
        """Users publishing to the live: the host first, then guests."""
        return self.get(live_id).participants()

    def is_publishing(self, live_id: str, user: str) -> bool:
        return user in self.get(live_id).publishers

    def viewer_users(self, live_id: str) -> list[str]:
        """Users watching, not counting participants (a host watching a guest's tile)."""
        return self.get(live_id).viewer_users()

    def session_ids(self, live_id: str) -> list[str]:
        return list(self.get(live_id).viewers)

    def sessions_of(self, live_id: str, user: str) -> list[AnyViewerSession]:
        """``user``'s viewer sessions of the live."""
        return [s for s in self.get(live_id).viewers.values() if s.user == user]

    def sources(self, live_id: str, participant: str | None = None) -> list[SourceWithCodec]:
        """Every track of the live (or one participant's), with its codec."""
        return self.get(live_id).sources(participant)

    def participant_sources(self, live_id: str, participant: str) -> list[TrackSource]:
        """The tracks ``participant`` publishes (the recorder's input), the best layer of a
        layered picture only; none when not publishing."""
        publisher = self.get(live_id).publishers.get(participant)
        return [] if publisher is None else publisher.best_sources

    def _publisher(self, live_id: str, participant: str) -> AnyPublisher:
        publisher = self.get(live_id).publishers.get(participant)
        if publisher is None:
            raise NotFound("you are not publishing to this live", code="session_not_found")
        return publisher

    async def add_publisher_candidate(
        self, live_id: str, participant: str, candidate: str, sdp_mid: str | None
    ) -> None:
        """Trickle ICE from ``participant``'s publishing connection."""
        await self._publisher(live_id, participant).add_candidate(candidate, sdp_mid)

    async def participant_connected(self, live_id: str, participant: str) -> None:
        """Return once ``participant``'s publishing connection is connected."""
        await self._publisher(live_id, participant).connected.wait()

    async def offer_missing_sources(self, live_id: str, session_id: str) -> str | None:
        """Offer the viewer session every track it should carry and lacks (a new guest's);
        the new offer for the client, or ``None`` when it lacks none."""
        session = self.session(live_id, session_id)
        return await session.offer_sources(self.sources(live_id, session.participant))

    def in_grace(self, live_id: str) -> bool:
        """Whether the live's host connection died and the live waits out its grace period."""
        return live_id in self._grace_timers

    @property
    def workers_running(self) -> int:
        """Media worker processes up (0 when viewers are served in this process)."""
        return len(self.workers.links()) if self.workers is not None else 0

    @property
    def worker_restarts(self) -> int:
        """Media worker processes that died and were started again."""
        return self.workers.restarts if self.workers is not None else 0

    @property
    def viewer_count(self) -> int:
        return sum(len(live.viewers) for live in self._lives.values())

    async def publish(
        self, live_id: str, participant: str, offer_sdp: str, *, whip: bool = False
    ) -> str:
        """Start (or resume, within the grace period) ``participant`` publishing to a live.

        The first publisher of a live is its host. ``whip`` peers may not answer ICE consent
        checks (FFmpeg), so inactivity stands in for consent. Returns the SDP answer.
        """
        self.relays.refuse_publish(live_id)
        live = self._lives.get(live_id) or MediaLive(live_id=live_id, host=participant)
        session = PublisherSession(
            live_id=live_id,
            participant=participant,
            stats=self.stats,
            on_connection_lost=self._publisher_lost,
            host_addresses=self.host_addresses,
            gso=self.gso,
            keyframe_interval=self.config.keyframe_interval,
            viewer_queue_limit=self.config.viewer_queue_limit,
            consent_by_inactivity=whip,
            udp_mux=self.udp_mux,
        )
        try:
            answer = await session.answer(offer_sdp)
        except BaseException:
            await session.close()
            raise
        previous = live.publishers.pop(participant, None)
        live.publishers[participant] = session
        self._lives[live_id] = live
        self._cancel_grace(live_id)
        if previous is not None:
            await previous.close()
        self.relays.sync(live_id)
        log.info("publish live=%s user=%s tracks=%d", live_id, participant, len(session.sources))
        return answer

    async def watch(
        self,
        live_id: str,
        viewer: str,
        offer_sdp: str,
        participant: str | None = None,
        *,
        max_layer: int | None = None,
        session_id: str | None = None,
    ) -> tuple[str, str]:
        """Attach a viewer to every participant's tracks (as many as the offer has m-lines
        for), or to one ``participant``'s; returns ``(session_id, answer_sdp)``. A layered
        picture is sent at most at layer ``max_layer`` (0 = lowest; None: any). The session
        gets ``session_id`` when given (unique), else a random one."""
        live = self.get(live_id)
        if participant is not None and participant not in live.publishers:
            raise NotFound(f"{participant} is not publishing", code="participant_not_found")
        sources = live.sources(participant)
        if not sources:
            raise Conflict("the live has no media yet", code="live_not_ready")
        if len(live.viewers) >= self.config.max_viewers_per_live:
            raise Conflict("this live is full on this node", code="live_full")
        session_id = session_id or secrets.token_urlsafe(12)
        session: ViewerSession | RemoteViewerSession
        if self.workers is not None:
            link = await self.workers.place()
            session = link.new_session(
                session_id=session_id,
                live_id=live_id,
                user=viewer,
                participant=participant,
                max_layer=max_layer,
            )
        else:
            session = ViewerSession(
                session_id=session_id,
                live_id=live_id,
                user=viewer,
                on_connection_lost=self._viewer_lost,
                host_addresses=self.host_addresses,
                gso=self.gso,
                fast_forwarding=self.config.fast_forwarding,
                participant=participant,
                udp_mux=self.udp_mux,
                max_layer=max_layer,
            )
        try:
            answer = await session.answer(offer_sdp, sources)
        except BaseException:
            await session.close()
            raise
        if live_id not in self._lives:  # ended while we negotiated
            await session.close()
            raise NotFound("the live ended", code="live_not_found")
        live.viewers[session.session_id] = session
        self.relays.watching(live_id)
        log.info("watch live=%s user=%s session=%s", live_id, viewer, session.session_id)
        return session.session_id, answer

    def session(self, live_id: str, session_id: str) -> AnyViewerSession:
        session = self.get(live_id).viewers.get(session_id)
        if session is None:
            raise NotFound("no such viewer session", code="session_not_found")
        return session

    def local_session(self, live_id: str, session_id: str) -> ViewerSession:
        """A session served in this process (``workers`` = 0), with its peer connection."""
        session = self.session(live_id, session_id)
        if not isinstance(session, ViewerSession):
            raise NotFound("the session is served by a media worker", code="session_not_found")
        return session

    async def leave(self, live_id: str, session_id: str) -> AnyViewerSession:
        session = self.session(live_id, session_id)
        self.get(live_id).viewers.pop(session_id, None)
        await session.close()
        self.relays.viewers_changed(live_id)
        log.info("leave live=%s user=%s session=%s", live_id, session.user, session_id)
        return session

    async def remove_participant(self, live_id: str, participant: str) -> None:
        """Stop a guest's publishing; viewers keep every other participant's tracks."""
        live = self.get(live_id)
        if participant == live.host:
            raise Conflict("the host ends the live instead", code="is_host")
        session = live.publishers.pop(participant, None)
        if session is not None:
            await session.close()
            log.info("participant removed live=%s user=%s", live_id, participant)

    async def end(self, live_id: str) -> list[AnyViewerSession]:
        """Close every session of a live; returns the viewer sessions that were attached."""
        live = self._lives.pop(live_id, None)
        self._cancel_grace(live_id)
        await self.relays.drop(live_id)
        if live is None:
            return []
        viewers = list(live.viewers.values())
        await asyncio.gather(
            *(v.close() for v in viewers), *(p.close() for p in live.publishers.values())
        )
        log.info("end live=%s viewers=%d", live_id, len(viewers))
        return viewers

    async def close_relay_links(self) -> None:
        """This node is stopping: drop its relay links without ending their lives (an edge
        treats the origin as gone), so no link holds the HTTP server's shutdown."""
        await self.relays.close()

    async def close(self) -> None:
        await self.relays.close()  # first: edges must not hear that the lives ended
        for live_id in list(self._lives):
            await self.end(live_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.workers is not None:
            await self.workers.close()
        if self.udp_mux is not None:
            self.udp_mux.close()

    def _publisher_lost(self, session: PublisherSession) -> None:
        live = self._lives.get(session.live_id)
        if live is None or live.publishers.get(session.participant) is not session:
            return
        log.info("publisher lost live=%s user=%s", session.live_id, session.participant)
        if session.participant != live.host:
            live.publishers.pop(session.participant, None)
            self._spawn(session.close())
            if self._on_participant_lost is not None:
                self._spawn(self._on_participant_lost(session.live_id, session.participant))
            return
        if session.live_id not in self._grace_timers:
            loop = asyncio.get_running_loop()
            self._grace_timers[session.live_id] = loop.call_later(
                self.config.publisher_grace_seconds, self._grace_expired, session.live_id
            )

    def _grace_expired(self, live_id: str) -> None:
        self._grace_timers.pop(live_id, None)
        log.info("grace expired live=%s", live_id)
        if self._on_live_lost is not None:
            self._spawn(self._on_live_lost(live_id))
        else:
            self._spawn(self._end_quietly(live_id))

    async def _end_quietly(self, live_id: str) -> None:
        await self.end(live_id)

    def _cancel_grace(self, live_id: str) -> None:
        timer = self._grace_timers.pop(live_id, None)
        if timer is not None:
            timer.cancel()

    def _viewer_lost(self, session: AnyViewerSession) -> None:
        live = self._lives.get(session.live_id)
        if live is None or live.viewers.pop(session.session_id, None) is None:
            return
        log.info("viewer lost live=%s user=%s", session.live_id, session.user)
        self._spawn(session.close())
        self.relays.viewers_changed(session.live_id)
        if self._on_viewer_gone is not None:
            self._spawn(self._on_viewer_gone(session))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
