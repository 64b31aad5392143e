"""What a feed of one source does when its transport falls behind (a media worker's Unix
socket, a relay link to an edge node): audio frames are dropped while it is behind, video waits
for the next keyframe, which it asks the source for once (coalesced with every viewer's
requests), so the far side's decoders never get a frame whose reference was dropped."""

from __future__ import annotations

from streamer.frames import EncodedFrame
from streamer.source import TrackSource


class KeyframeGate:
    """Decides, frame by frame, whether one source's feed sends it."""

    def __init__(self, source: TrackSource) -> None:
        self._source = source
        self._awaiting_keyframe = False

    def admit(self, frame: EncodedFrame, behind: bool) -> bool:
        """Whether to send ``frame``; ``behind``: the transport holds too much already."""
        if self._source.kind != "video":
            return not behind
        if behind or (self._awaiting_keyframe and not frame.keyframe):
            if not self._awaiting_keyframe:
                self._awaiting_keyframe = True
                self._source.request_keyframe()
            return False
        self._awaiting_keyframe = False
        return True
