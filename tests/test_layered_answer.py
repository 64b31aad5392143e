"""The answer to a layered publisher: no abs-send-time (so aiortc sends no REMB) and a start
bitrate on the layers' video m-lines; everything else as aiortc wrote it."""

from __future__ import annotations

from streamer.layers.answer import ABS_SEND_TIME, START_BITRATE_KBPS, layered_answer

AUDIO = [
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    f"a=extmap:2 {ABS_SEND_TIME}",
    "a=mid:0",
    "a=rtpmap:111 opus/48000/2",
]


def video(mid: str, codec: str, fmtp: str | None) -> list[str]:
    lines = [
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        f"a=extmap:2 {ABS_SEND_TIME}",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        f"a=mid:{mid}",
        f"a=rtpmap:96 {codec}/90000",
    ]
    if fmtp:
        lines.append(f"a=fmtp:96 {fmtp}")
    return [*lines, "a=rtcp-fb:96 goog-remb", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96"]


def sdp(*sections: list[str]) -> str:
    head = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0 1 2 3"]
    return "\r\n".join(head + [line for section in sections for line in section]) + "\r\n"


START = f"x-google-start-bitrate={START_BITRATE_KBPS}"


def test_only_the_layers_m_lines_change() -> None:
    single = video("3", "VP8", None)
    answer = sdp(AUDIO, video("1", "VP8", None), video("2", "VP8", None), single)
    expected = sdp(
        AUDIO,
        [line for line in video("1", "VP8", START) if ABS_SEND_TIME not in line],
        [line for line in video("2", "VP8", START) if ABS_SEND_TIME not in line],
        single,
    )
    assert layered_answer(answer, {"1", "2"}) == expected


def test_an_h264_fmtp_line_gets_the_start_bitrate_appended() -> None:
    mode = "packetization-mode=1;profile-level-id=42e01f"
    answer = sdp(video("0", "H264", mode), video("1", "H264", mode))
    rewritten = layered_answer(answer, {"0", "1"})
    assert rewritten.count(f"a=fmtp:96 {mode};{START}\r\n") == 2
    assert rewritten.count("a=fmtp:97 apt=96\r\n") == 2
    assert ABS_SEND_TIME not in rewritten


def test_no_layers_leaves_the_answer_as_it_is() -> None:
    answer = sdp(AUDIO, video("1", "VP8", None))
    assert layered_answer(answer, set()) == answer
