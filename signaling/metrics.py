"""``GET /metrics``: Prometheus text, read from the planes' counters at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from signaling.appkeys import HUB, LIVES, STREAMER
from signaling.hub import Hub
from signaling.room_events import RoomEvents
from streamer import ForwardingStats, Streamer

LAYER_GAUGES = sorted(
    name for name in ForwardingStats.__dataclass_fields__ if name.startswith("viewers_on_layer_")
)
"""``viewers_on_layer_0``, ``_1``, ``_2``: the layer gauges, lowest first."""


class DirectliveCollector(Collector):
    def __init__(self, streamer: Streamer, hub: Hub, room: RoomEvents) -> None:
        self._streamer = streamer
        self._hub = hub
        self._room = room

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self._streamer.forwarding_totals()
        yield GaugeMetricFamily(
            "directlive_lives", "Lives with media on this node", self._streamer.live_count
        )
        yield GaugeMetricFamily(
            "directlive_viewers", "Viewer sessions on this node", self._streamer.viewer_count
        )
        yield GaugeMetricFamily(
            "directlive_media_workers",
            "Media worker processes running (0: viewers are served in the main process)",
            self._streamer.workers_running,
        )
        yield CounterMetricFamily(
            "directlive_media_worker_restarts",
            "Media worker processes that died and were started again",
            self._streamer.worker_restarts,
        )
        yield GaugeMetricFamily(
            "directlive_sockets", "Open signaling sockets", len(self._hub.connections())
        )
        counters = {
            "frames_received": "Encoded frames received from publishers",
            "frames_forwarded": "Encoded frames handed to viewers (per viewer)",
            "bytes_forwarded": "Encoded bytes handed to viewers (per viewer)",
            "frames_dropped_slow_viewer": "Frames dropped because a viewer fell behind",
            "keyframe_requests_upstream": "Keyframe requests (PLI) sent to publishers",
            "keyframe_requests_from_viewers": "PLI/FIR received from viewers",
            "udp_unknown_ufrag": "STUN requests at a shared UDP port naming no connection",
            "udp_stray_datagrams": "Datagrams at a shared UDP port from no known peer",
            "layer_switches_up": "Viewers moved to a higher layer of a layered picture",
            "layer_switches_down": "Viewers moved to a lower layer of a layered picture",
            "layer_switch_keyframe_requests": "Keyframes asked of a layer to move a viewer there",
        }
        for name, help_text in counters.items():
            yield CounterMetricFamily(f"directlive_{name}", help_text, getattr(stats, name))
        relay = self._streamer.relay_stats
        yield CounterMetricFamily(
            "directlive_relay_frames_sent",
            "Frames this node (an origin) wrote to relay links, one per edge node per frame",
            relay.frames_sent,
        )
        yield CounterMetricFamily(
            "directlive_relay_frames_received",
            "Frames this node (an edge) received on relay links from origins",
            relay.frames_received,
        )
        yield CounterMetricFamily(
            "directlive_relay_frames_dropped",
            "Frames an origin did not write because a relay link fell behind",
            relay.frames_dropped,
        )
        yield CounterMetricFamily(
            "directlive_relay_frames_held_back",
            "Frames of a layer an origin did not write because the edge dropped that layer",
            relay.frames_held_back,
        )
        yield CounterMetricFamily(
            "directlive_relay_layers_dropped",
            "Times this node (an edge) stopped taking a layer nothing on it read",
            relay.layers_dropped,
        )
        yield CounterMetricFamily(
            "directlive_relay_links_opened",
            "Relay links this node opened to origins, reconnections included",
            relay.links_opened,
        )
        yield GaugeMetricFamily(
            "directlive_relay_links_open",
            "Relay links open on this node, feeding edges or pulled from origins",
            self._streamer.relay_links_open,
        )
        layers = GaugeMetricFamily(
            "directlive_layer_viewers",
            "Viewer tracks of a layered picture on each layer (0: lowest; 2: 2 and above)",
            labels=["layer"],
        )
        for layer, name in enumerate(LAYER_GAUGES):
            layers.add_metric([str(layer)], getattr(stats, name))
        yield layers
        yield CounterMetricFamily(
            "directlive_room_events_queued",
            "Room events (comments, reactions, counts...) queued on sockets, one per socket",
            self._room.events_queued,
        )
        yield CounterMetricFamily(
            "directlive_socket_overflow_drops",
            "Sockets dropped because they stopped reading and their outbox filled",
            self._hub.overflow_drops,
        )


async def get_metrics(request: web.Request) -> web.Response:
    registry = CollectorRegistry()
    app = request.app
    await app[STREAMER].refresh_forwarding_stats()
    registry.register(DirectliveCollector(app[STREAMER], app[HUB], app[LIVES].room))
    return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")
