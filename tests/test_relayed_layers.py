"""An edge's copy of a layered picture: its layers, opened one by one from the link, stand as
one picture once all are there, keep their set across a reconnection, and hide again when
the set breaks; a layer nothing reads is dropped from the link and asked for again."""

from __future__ import annotations

from dataclasses import replace

from aiortc import RTCRtpCodecParameters

from streamer.forwarding.datagrams import UdpGso
from streamer.relay.edge import RelayedMedia, RelayedParticipant
from streamer.relay.edge_feeds import EdgeLayerFeeds
from streamer.relay.stats import RelayStats
from streamer.source import TrackSource
from streamer.stats import ForwardingStats
from streamer.workers.messages import FeedUnwanted, FeedWanted, Message, SourceOpen, codec_to_wire
from tests.media.peers import wait_for

VP8 = codec_to_wire(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96))


def opening(key: int, mid: str, kind: str = "video") -> SourceOpen:
    return SourceOpen(
        key=key,
        track_id=f"alice-{kind}-{mid}",
        participant="alice",
        kind=kind,
        mime_type="video/VP8",
        codec=VP8,
        gop=[],
    )


def relayed_media() -> RelayedMedia:
    return RelayedMedia("live1", ForwardingStats(), UdpGso(False), 1.0, 240)


def alice_of(media: RelayedMedia) -> RelayedParticipant:
    alice = media.participants["alice"]
    assert isinstance(alice, RelayedParticipant)
    return alice


def open_layers(media: RelayedMedia, first_key: int) -> list[TrackSource]:
    return [
        media.source_for(opening(first_key + index, str(index)), layer=True)[0]
        for index in range(3)
    ]


async def test_layers_hide_until_their_set_is_whole_then_stand_as_one_picture() -> None:
    media = relayed_media()
    other, _ = media.source_for(opening(9, "9", kind="audio"), layer=False)
    top, _ = media.source_for(opening(1, "0"), layer=True)
    alice = alice_of(media)
    assert alice.viewer_sources == [other]  # a lone layer is no picture yet
    rest = [media.source_for(opening(key, str(key)), layer=True)[0] for key in (2, 3)]
    assert alice.viewer_sources == [other]
    media.tie([top, *rest])
    [layers] = alice.layer_sets
    assert layers.sources == [top, *rest]
    assert all(source.layers is layers for source in layers.sources)
    assert alice.viewer_sources == [other, top]
    assert alice.best_sources == [other, top]  # the first m-line is the top until keyframes
    media.close()


async def test_a_link_that_comes_back_keeps_each_set_and_its_viewers() -> None:
    media = relayed_media()
    sources = open_layers(media, 1)
    media.tie(sources)
    alice = alice_of(media)
    [layers] = alice.layer_sets
    again = [media.source_for(opening(11 + i, str(i)), layer=True) for i in range(3)]
    assert again == [(source, False) for source in sources]
    media.tie(sources)
    assert len(alice.layer_sets) == 1
    assert alice.layer_sets[0] is layers
    assert alice.viewer_sources == [sources[0]]
    media.close()


async def test_a_closed_layer_breaks_its_set_and_hides_the_others() -> None:
    media = relayed_media()
    sources = open_layers(media, 1)
    media.tie(sources)
    alice = alice_of(media)
    media.close_source(sources[1])
    assert alice.layer_sets == []
    assert all(source.layers is None for source in sources)
    assert alice.viewer_sources == []
    media.tie([sources[0], sources[2]])  # the origin announces what is left
    assert alice.viewer_sources == [sources[0]]
    media.close()
    assert media.participants == {}


async def test_layers_of_two_participants_are_not_tied() -> None:
    media = relayed_media()
    top, _ = media.source_for(opening(1, "0"), layer=True)
    bob = replace(opening(2, "1"), participant="bob", track_id="bob-video-1")
    low, _ = media.source_for(bob, layer=True)
    media.tie([top, low])
    assert alice_of(media).layer_sets == []
    assert top.layers is None
    media.close()


async def test_an_unread_layer_is_dropped_and_comes_back_on_the_latest_answer() -> None:
    media = relayed_media()
    sources = open_layers(media, 1)
    media.tie(sources)
    sent: list[Message] = []
    stats = RelayStats()
    feeds = EdgeLayerFeeds(sent.append, grace=0.0, stats=stats)
    for key, source in enumerate(sources, start=1):
        feeds.add(key, source)
    layers = sources[0].layers
    assert layers is not None
    layers.hold(sources[0])  # a viewer reads the first
    try:
        await wait_for(lambda: len(sent) == 2, 10, "the unread layers are dropped")
        assert sent == [FeedUnwanted(key=2), FeedUnwanted(key=3)]
        assert stats.layers_dropped == 2
        assert feeds.takes(1)
        assert not feeds.takes(2)
        feeds.want(2)
        feeds.want(2)  # asked already: said once
        assert sent[2:] == [FeedWanted(key=2, epoch=1)]
        feeds.resumed(2, 0, [])  # not the answer to the latest ask
        assert not feeds.takes(2)
        feeds.resumed(2, 1, [])
        assert feeds.takes(2)
        feeds.want(2)  # fed: nothing to ask
        assert len(sent) == 3
    finally:
        feeds.close()
        media.close()
