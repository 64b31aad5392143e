"""Shared test setup: ICE on loopback only, for the server and every test peer."""

from __future__ import annotations

from streamer.ice import configure_host_addresses

configure_host_addresses(["127.0.0.1"])
