"""Relay links between nodes: an edge node pulls a live's encoded frames once from the live's
origin node over one WebSocket per (edge, live), sealed with AES-GCM, and serves its own
viewers from a local copy of the sources (``relays.Relays`` is the node's side of it all)."""
