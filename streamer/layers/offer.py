"""Which video m-lines of a publisher's offer are layers of one picture."""

from __future__ import annotations


def video_streams(offer_sdp: str) -> dict[str, str]:
    """The msid stream id of each video m-line, by mid (m-lines without both are left out).

    Takes ``a=msid:<stream> <track>`` or, from older clients, ``a=ssrc:<n> msid:<stream> ...``.
    """
    streams: dict[str, str] = {}
    kind = mid = stream = None
    for raw in [*offer_sdp.splitlines(), "m=end"]:
        line = raw.strip()
        if line.startswith("m="):
            if kind == "video" and mid is not None and stream is not None:
                streams[mid] = stream
            kind = line[2:].split(" ", 1)[0]
            mid = stream = None
        elif line.startswith("a=mid:"):
            mid = line[6:].strip()
        elif line.startswith("a=msid:") and stream is None:
            stream = line[7:].split(" ", 1)[0] or None
        elif line.startswith("a=ssrc:") and " msid:" in line and stream is None:
            stream = line.split(" msid:", 1)[1].split(" ", 1)[0] or None
    return {mid: stream for mid, stream in streams.items() if stream not in ("-", "")}


def layer_groups(offer_sdp: str, video_mids: list[str]) -> list[list[str]]:
    """The mids of ``video_mids`` (in m-line order) that share a stream id with another,
    grouped by stream id: each group of two or more is one participant's layers."""
    streams = video_streams(offer_sdp)
    groups: dict[str, list[str]] = {}
    for mid in video_mids:
        stream = streams.get(mid)
        if stream is not None:
            groups.setdefault(stream, []).append(mid)
    return [mids for mids in groups.values() if len(mids) > 1]
