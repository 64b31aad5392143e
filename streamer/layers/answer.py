"""The answer's terms for a layered publisher's video m-lines, so a browser sends every layer.

aiortc estimates each receiver's bandwidth apart and sends REMB for that m-line alone; Chromium
takes each REMB as the whole link's estimate, so the lowest layer's rate caps all of them and
it suspends or shrinks the others. Leaving abs-send-time out of those m-lines stops aiortc's
REMB; Chromium then estimates from loss alone, starting at ``START_BITRATE_KBPS`` (enough for
every layer at once) instead of its default 300 kbps.
"""

from __future__ import annotations

ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
START_BITRATE_KBPS = 1400
MEDIA_CODECS = ("vp8/", "h264/")


def layered_answer(answer_sdp: str, layer_mids: set[str]) -> str:
    """``answer_sdp`` with the m-sections of ``layer_mids`` rewritten (others untouched)."""
    if not layer_mids:
        return answer_sdp
    head, *sections = answer_sdp.split("\r\nm=")
    rewritten = [
        _layer_section(section) if _mid(section) in layer_mids else section for section in sections
    ]
    return "\r\nm=".join([head, *rewritten])


def _mid(section: str) -> str | None:
    for line in section.split("\r\n"):
        if line.startswith("a=mid:"):
            return line[6:].strip()
    return None


def _layer_section(section: str) -> str:
    lines = [line for line in section.split("\r\n") if ABS_SEND_TIME not in line]
    media_types = {
        line[9:].split(" ", 1)[0]
        for line in lines
        if line.startswith("a=rtpmap:") and line.split(" ", 1)[-1].lower().startswith(MEDIA_CODECS)
    }
    start = f"x-google-start-bitrate={START_BITRATE_KBPS}"
    with_fmtp: set[str] = set()
    for index, line in enumerate(lines):
        payload_type = line[7:].split(" ", 1)[0] if line.startswith("a=fmtp:") else None
        if payload_type in media_types:
            lines[index] = f"{line};{start}"
            with_fmtp.add(payload_type)
    out: list[str] = []
    for line in lines:
        out.append(line)
        payload_type = line[9:].split(" ", 1)[0] if line.startswith("a=rtpmap:") else None
        if payload_type in media_types and payload_type not in with_fmtp:
            out.append(f"a=fmtp:{payload_type} {start}")
    return "\r\n".join(out)
