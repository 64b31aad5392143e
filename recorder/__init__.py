"""recorder: lives to files without re-encoding, and the media checks of uploads.

Consumes the streamer's encoded-frame feed (``TrackSource.subscribe``) and remuxes it with
PyAV into Matroska/WebM; no codec context is ever opened. Imports ``streamer`` and
``directlive`` only, never ``fanout`` or ``signaling``.
"""

from recorder.recorder import RecordedFile, Recorder, RecorderConfig, RecordingReport
from recorder.salvage import salvage

__all__ = ["RecordedFile", "Recorder", "RecorderConfig", "RecordingReport", "salvage"]
