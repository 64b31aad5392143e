"""Sending forwarded frames: per-viewer RTP forwarders, the per-source lane, the datagram
writer, and the C extension (``_fastsend``) that does the hot path of all three."""
