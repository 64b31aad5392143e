"""What the main process tells a media worker when it starts it (``--config``)."""

from __future__ import annotations

import dataclasses
import json


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """A worker's share of its streamer's ``MediaConfig``, and its place in the pool."""

    index: int = 0
    ice_addresses: tuple[str, ...] = ()
    udp_port: int | None = None
    """The shared UDP port of worker 0 (``streamer.aiortc.udp_mux``); worker ``index`` adds
    ``index``. None: one ephemeral port per connection."""
    fast_forwarding: bool = True
    udp_gso: bool = True
    viewer_queue_limit: int = 240
    log_level: str = "INFO"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSettings:
        fields = json.loads(text)
        fields["ice_addresses"] = tuple(fields.get("ice_addresses", ()))
        return cls(**fields)
