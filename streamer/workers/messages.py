"""The typed messages between a node's main process and its media workers.

Every message but frames is a frozen dataclass here; ``to_wire`` turns one into the msgpack
map that travels (its fields plus ``op``), ``from_wire`` parses a received map back, in
this one place. Frames, the hot path, travel as arrays (``streamer.workers.wire``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from aiortc import RTCRtpCodecParameters
from aiortc.rtcrtpparameters import RTCRtcpFeedback

from streamer.frames import EncodedFrame

FRAME = "f"


@dataclass(frozen=True)
class SourceOpen:
    """Main to worker: feed the source ``key`` from now on, starting with its GOP."""

    op: ClassVar[str] = "source.open"
    key: int
    track_id: str
    participant: str
    kind: str
    mime_type: str
    codec: dict[str, Any]
    """``codec_to_wire`` of the source's codec."""
    gop: list[list[Any]]
    """``frame_to_wire`` of each frame a new viewer starts from."""


@dataclass(frozen=True)
class SourceClose:
    """Main to worker: the source ``key`` ended, or no viewer there reads it any more."""

    op: ClassVar[str] = "source.close"
    key: int


@dataclass(frozen=True)
class KeyframeWanted:
    """Worker to main: a viewer of source ``key`` needs a keyframe."""

    op: ClassVar[str] = "keyframe"
    key: int


@dataclass(frozen=True)
class FeedWanted:
    """Worker to main: feed the layer ``key`` again (a viewer there is on it or moving to
    it); ``epoch`` tells this ask from earlier ones, and ``FeedResumed`` repeats it."""

    op: ClassVar[str] = "feed.wanted"
    key: int
    epoch: int


@dataclass(frozen=True)
class FeedUnwanted:
    """Worker to main: no viewer there is on the layer ``key`` or moving to it; stop
    sending its frames until ``FeedWanted``."""

    op: ClassVar[str] = "feed.unwanted"
    key: int


@dataclass(frozen=True)
class FeedResumed:
    """Main to worker: the answer to ``FeedWanted`` of ``epoch``: the layer's frames follow
    from ``gop`` on (``frame_to_wire`` of each frame a new viewer starts from)."""

    op: ClassVar[str] = "feed.resumed"
    key: int
    epoch: int
    gop: list[list[Any]]


@dataclass(frozen=True)
class ViewerLost:
    """Worker to main: a viewer's connection died by itself."""

    op: ClassVar[str] = "viewer.lost"
    session_id: str


@dataclass(frozen=True)
class Watch:
    """Request: answer a new viewer's offer with the sources ``sources`` (feed keys)."""

    op: ClassVar[str] = "watch"
    session_id: str
    live_id: str
    user: str
    participant: str | None
    sdp: str
    sources: list[int]
    layers: list[list[int]]
    """Per entry of ``sources``: the keys of the layers it stands for (m-line order), or []."""
    max_layer: int | None
    """The highest layer the viewer wants (0 = lowest), None: any."""


@dataclass(frozen=True)
class LayerCap:
    """Request: send the session no layer above ``max_layer`` (None: any)."""

    op: ClassVar[str] = "layer"
    session_id: str
    max_layer: int | None
    participant: str | None = None
    """Only that participant's pictures; None: every picture (the session's cap)."""


@dataclass(frozen=True)
class Leave:
    op: ClassVar[str] = "leave"
    session_id: str


@dataclass(frozen=True)
class Candidate:
    op: ClassVar[str] = "candidate"
    session_id: str
    candidate: str
    sdp_mid: str | None


@dataclass(frozen=True)
class OfferSources:
    """Request: offer the session the ``sources`` it does not carry yet."""

    op: ClassVar[str] = "offer"
    session_id: str
    sources: list[int]
    layers: list[list[int]]
    """As ``Watch.layers``."""


@dataclass(frozen=True)
class AcceptAnswer:
    op: ClassVar[str] = "answer"
    session_id: str
    sdp: str


@dataclass(frozen=True)
class StatsWanted:
    """Request: the worker's ``ForwardingStats``, as a map."""

    op: ClassVar[str] = "stats"


Notice = (
    SourceOpen | SourceClose | KeyframeWanted | ViewerLost | FeedWanted | FeedUnwanted | FeedResumed
)
Request = Watch | LayerCap | Leave | Candidate | OfferSources | AcceptAnswer | StatsWanted
Message = Notice | Request
_BY_OP: dict[str, type[Message]] = {
    cls.op: cls
    for cls in (
        SourceOpen,
        SourceClose,
        KeyframeWanted,
        ViewerLost,
        FeedWanted,
        FeedUnwanted,
        FeedResumed,
        Watch,
        LayerCap,
        Leave,
        Candidate,
        OfferSources,
        AcceptAnswer,
        StatsWanted,
    )
}
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "int | None": (int, type(None)),
    "list[list[int]]": (list,),
    "str": (str,),
    "str | None": (str, type(None)),
    "list[int]": (list,),
    "list[list[Any]]": (list,),
    "dict[str, Any]": (dict,),
}


class BadMessage(ValueError):
    """A map from the other side that is no message of ours."""


def to_wire(message: Message) -> dict[str, Any]:
    return {"op": message.op, **dataclasses.asdict(message)}


def from_wire(body: dict[str, Any]) -> Message:
    """The message ``body`` carries; ``BadMessage`` when it is none of ours."""
    cls = _BY_OP.get(str(body.get("op")))
    if cls is None:
        raise BadMessage(f"unknown op {body.get('op')!r}")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        value = body.get(field.name)
        if not isinstance(value, _TYPES[str(field.type)]):
            raise BadMessage(f"{cls.op}: {field.name} is not {field.type}")
        values[field.name] = value
    return cls(**values)


def codec_to_wire(codec: RTCRtpCodecParameters) -> dict[str, Any]:
    return {
        "mimeType": codec.mimeType,
        "clockRate": codec.clockRate,
        "channels": codec.channels,
        "payloadType": codec.payloadType,
        "parameters": dict(codec.parameters),
        "rtcpFeedback": [[f.type, f.parameter] for f in codec.rtcpFeedback],
    }


def codec_from_wire(wire: dict[str, Any]) -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(
        mimeType=wire["mimeType"],
        clockRate=wire["clockRate"],
        channels=wire["channels"],
        payloadType=wire["payloadType"],
        parameters=dict(wire["parameters"]),
        rtcpFeedback=[RTCRtcpFeedback(type=t, parameter=p) for t, p in wire["rtcpFeedback"]],
    )


def frame_to_wire(key: int, frame: EncodedFrame) -> list[Any]:
    return [FRAME, key, frame.data, frame.timestamp, frame.keyframe, frame.picture_id]


def frame_from_wire(value: list[Any]) -> tuple[int, EncodedFrame]:
    _, key, data, timestamp, keyframe, picture_id = value
    return key, EncodedFrame(data, timestamp, keyframe, picture_id=picture_id)
