"""``--udp-port``: every server peer connection of a process shares one UDP socket
(``streamer.aiortc.udp_mux``); STUN is routed by ufrag, the rest by learned address, and
anything else is dropped and counted."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import struct
from collections.abc import AsyncIterator

import pytest
from aioice import stun

from benchmarks.harness import free_udp_ports
from streamer import MediaConfig, Streamer
from streamer.aiortc.udp_mux import UdpMux, binding_request_ufrag
from streamer.forwarding import datagrams
from streamer.forwarding.forwarder import forwarder_of
from streamer.viewer import ViewerSession
from tests.media.peers import Exchange, Viewer, publish, video_source, wait_for, watching
from tests.media.tracks import CounterVideoTrack, ToneAudioTrack


@pytest.fixture
async def streamer() -> AsyncIterator[Streamer]:
    port = free_udp_ports(1)
    s = Streamer(
        MediaConfig(
            publisher_grace_seconds=0.5, workers=0, udp_port=port, ice_addresses=("127.0.0.1",)
        )
    )
    s.start()
    yield s
    await s.close()


def mux_of(streamer: Streamer) -> UdpMux:
    assert streamer.udp_mux is not None
    return streamer.udp_mux


def candidate_ports(sdp: str) -> set[int]:
    return {int(line.split()[5]) for line in sdp.splitlines() if line.startswith("a=candidate:")}


def binding_request(ufrag: str, integrity_key: bytes | None = None) -> bytes:
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = f"{ufrag}:peer"
    request.attributes["PRIORITY"] = 1
    if integrity_key is not None:
        request.add_message_integrity(integrity_key)
    return bytes(request)


def short_priority_request(ufrag: str) -> bytes:
    """A Binding request whose PRIORITY is 2 bytes long: aioice's parser raises struct.error."""
    username = f"{ufrag}:peer".encode()
    attributes = struct.pack("!HH", 0x0006, len(username)) + username
    attributes += b"\0" * (-len(username) % 4) + struct.pack("!HH", 0x0024, 2) + b"\0" * 4
    header = struct.pack("!HH", 0x0001, len(attributes)) + b"\x21\x12\xa4\x42"
    return header + os.urandom(12) + attributes


def test_binding_request_ufrag_reads_only_binding_requests() -> None:
    assert binding_request_ufrag(binding_request("abcd")) == "abcd"
    no_username = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    assert binding_request_ufrag(bytes(no_username)) == ""
    response = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE)
    assert binding_request_ufrag(bytes(response)) is None
    assert binding_request_ufrag(b"\x00\x01" + os.urandom(30)) is None  # no magic cookie
    truncated = binding_request("abcd")[:22]
    assert binding_request_ufrag(truncated) == ""
    # A length field that lies does not read past the datagram.
    lying = bytearray(binding_request("abcd"))
    struct.pack_into("!H", lying, 2, 4000)
    assert binding_request_ufrag(bytes(lying)) == "abcd"


async def test_publisher_and_viewers_share_one_socket_and_the_fast_path(
    streamer: Streamer,
) -> None:
    mux = mux_of(streamer)
    live_id = streamer.new_live_id()
    answers: list[str] = []

    async def exchange(sdp: str) -> str:
        answer = await streamer.publish(live_id, "alice", sdp)
        answers.append(answer)
        return answer

    publisher = await publish([CounterVideoTrack(fps=30), ToneAudioTrack()], exchange)
    viewers = [Viewer(audio=i == 0) for i in range(3)]
    sessions: list[str] = []
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        for i, viewer in enumerate(viewers):
            inner = watching(streamer, live_id, f"v{i}", sessions)

            async def watch(sdp: str, inner: Exchange = inner) -> str:
                answer = await inner(sdp)
                answers.append(answer)
                return answer

            await viewer.watch(watch)
        await wait_for(
            lambda: all(len(v.received.counters) >= 30 for v in viewers), 30, "30 frames each"
        )
        for viewer in viewers:
            counters = viewer.received.counters
            assert all(b > a for a, b in itertools.pairwise(counters)), counters
        await wait_for(lambda: viewers[0].received.audio_frames > 0, 10, "decoded audio")
        # Every answer offers the one port, and each connection has its own ufrag.
        assert all(candidate_ports(answer) == {mux.port} for answer in answers)
        ufrags = {
            line.split(":", 1)[1]
            for answer in answers
            for line in answer.splitlines()
            if line.startswith("a=ice-ufrag:")
        }
        assert len(ufrags) == len(answers) == 4
        assert mux.routes()[0] == 4
        # One socket at that port; the forwarder writes to it directly.
        shared = mux._shared["127.0.0.1"]
        for session_id in sessions:
            session = streamer.local_session(live_id, session_id)
            assert isinstance(session, ViewerSession)
            video_sender = next(t.sender for t in session.pc.getTransceivers() if t.kind == "video")
            forwarder = forwarder_of(video_sender)
            assert forwarder is not None
            assert forwarder._writer.socket is shared.sock
            assert forwarder.packets_sent > 0
            if datagrams.FAST_SEND is not None:  # the C lane sends on the shared fd
                assert forwarder.lane_joins >= 1
        assert mux.stats.udp_unknown_ufrag == 0
        assert mux.stats.udp_stray_datagrams == 0
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
    await streamer.end(live_id)
    await wait_for(lambda: mux.routes() == (0, 0), 10, "every route removed with its connection")


async def test_strays_unknown_ufrags_and_forged_checks_are_dropped_and_counted(
    streamer: Streamer,
) -> None:
    mux = mux_of(streamer)
    live_id = streamer.new_live_id()
    answers: list[str] = []

    async def exchange(sdp: str) -> str:
        answer = await streamer.publish(live_id, "alice", sdp)
        answers.append(answer)
        return answer

    publisher = await publish([CounterVideoTrack(fps=30)], exchange)
    viewer = Viewer(audio=False)
    flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flooder.bind(("127.0.0.1", 0))
    flooder.setblocking(False)
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        await viewer.watch(watching(streamer, live_id, "v"))
        await wait_for(lambda: len(viewer.received.counters) >= 10, 20, "first frames")
        routes = mux.routes()
        target = ("127.0.0.1", mux.port)
        for _ in range(200):
            flooder.sendto(os.urandom(100), target)
            flooder.sendto(binding_request(os.urandom(4).hex()), target)
        # A check with the publisher's real ufrag but no valid integrity: refused with a
        # 401 from aioice, and its address is never learned.
        real_ufrag = next(
            line.split(":", 1)[1] for line in answers[0].splitlines() if "ice-ufrag" in line
        )
        flooder.sendto(binding_request(real_ufrag, integrity_key=b"wrong"), target)
        loop = asyncio.get_running_loop()
        reply = stun.parse_message(await asyncio.wait_for(loop.sock_recv(flooder, 2048), 10))
        assert reply.message_class == stun.Class.ERROR
        assert reply.attributes["ERROR-CODE"][0] == 401
        # One that aioice's parser chokes on: dropped and counted, nothing raised.
        flooder.sendto(short_priority_request(real_ufrag), target)
        await wait_for(
            lambda: mux.stats.udp_unknown_ufrag == 200 and mux.stats.udp_stray_datagrams == 201,
            10,
            "every datagram counted",
        )
        assert mux.routes() == routes
        seen = len(viewer.received.counters)
        await wait_for(lambda: len(viewer.received.counters) >= seen + 15, 10, "frames go on")
        counters = viewer.received.counters
        assert all(b > a for a, b in itertools.pairwise(counters)), counters
    finally:
        flooder.close()
        await viewer.close()
        await publisher.close()


async def test_a_taken_port_fails_at_start() -> None:
    port = free_udp_ports(1)
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", port))
    try:
        with pytest.raises(OSError, match=f"udp port {port} on 127.0.0.1"):
            Streamer(MediaConfig(workers=0, udp_port=port, ice_addresses=("127.0.0.1",)))
    finally:
        holder.close()


async def test_a_closed_streamer_frees_its_port() -> None:
    port = free_udp_ports(1)
    first = Streamer(MediaConfig(workers=0, udp_port=port, ice_addresses=("127.0.0.1",)))
    await first.close()
    again = Streamer(MediaConfig(workers=0, udp_port=port, ice_addresses=("127.0.0.1",)))
    await again.close()


async def test_a_candidate_naming_another_viewers_address_does_not_take_its_route(
    streamer: Streamer,
) -> None:
    mux = mux_of(streamer)
    live_id = streamer.new_live_id()
    publisher = await publish(
        [CounterVideoTrack(fps=30)], lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    first, second = Viewer(audio=False), Viewer(audio=False)
    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        await first.watch(watching(streamer, live_id, "first"))
        await wait_for(lambda: len(first.received.counters) >= 10, 20, "first's frames")
        assert first.pc.localDescription is not None
        (first_port,) = candidate_ports(first.pc.localDescription.sdp)
        shared = mux._shared["127.0.0.1"]
        route = shared.by_address[("127.0.0.1", first_port)]
        watch_second = watching(streamer, live_id, "second")

        async def naming_first(sdp: str) -> str:
            forged = f"a=candidate:9 1 udp 2130706431 127.0.0.1 {first_port} typ host\r\n"
            index = sdp.index("a=candidate:")
            return await watch_second(sdp[:index] + forged + sdp[index:])

        await second.watch(naming_first)
        await wait_for(lambda: len(second.received.counters) >= 10, 20, "second's frames")
        assert shared.by_address[("127.0.0.1", first_port)] is route
        seen = len(first.received.counters)
        await wait_for(lambda: len(first.received.counters) >= seen + 15, 10, "first goes on")
    finally:
        await first.close()
        await second.close()
        await publisher.close()


async def test_a_restarted_worker_serves_on_its_port_again() -> None:
    port = free_udp_ports(2)
    streamer = Streamer(
        MediaConfig(
            publisher_grace_seconds=0.5, workers=1, udp_port=port, ice_addresses=("127.0.0.1",)
        )
    )
    streamer.start()
    live_id = streamer.new_live_id()
    publisher = await publish(
        [CounterVideoTrack(fps=30)], lambda sdp: streamer.publish(live_id, "alice", sdp)
    )
    viewers = [Viewer(audio=False) for _ in range(2)]
    answers: list[str] = []

    async def watch(sdp: str) -> str:
        answers.append(await watching(streamer, live_id, f"v{len(answers)}")(sdp))
        return answers[-1]

    try:
        await wait_for(lambda: video_source(streamer.get(live_id)).has_keyframe, 10, "keyframe")
        await viewers[0].watch(watch)
        await wait_for(lambda: len(viewers[0].received.counters) >= 10, 30, "frames")
        assert streamer.workers is not None
        (victim,) = streamer.workers.links()
        os.kill(victim.process.pid, signal.SIGKILL)
        pool = streamer.workers
        await wait_for(
            lambda: pool.restarts == 1 and len(pool.links()) == 1, 15, "the worker again"
        )
        await viewers[1].watch(watch)
        await wait_for(lambda: len(viewers[1].received.counters) >= 10, 30, "a new viewer")
        assert [candidate_ports(answer) for answer in answers] == [{port + 1}, {port + 1}]
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
        await streamer.close()
