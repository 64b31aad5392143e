"""Adding a new participant's tracks to a viewer's live connection (server-initiated offer)."""

from __future__ import annotations

from aiortc import RTCSessionDescription

from directlive.errors import Conflict
from streamer.peer import apply_remote
from streamer.sender_setup import capabilities_like, prepare_sender
from streamer.viewer import SourceWithCodec, ViewerSession


async def offer_new_sources(session: ViewerSession, sources: list[SourceWithCodec]) -> str | None:
    """Add a sendonly m-line per source the session does not carry yet and return the new
    offer, or ``None`` when it already carries them all. The caller relays the offer to the
    client and hands its answer to ``accept_answer``."""
    # By identity: a guest who publishes again has new sources under the same track ids.
    carried = {id(source) for source, _ in session.tracks}
    new = [(source, codec) for source, codec in sources if id(source) not in carried]
    if not new:
        return None
    for source, codec in new:
        track = source.subscribe()
        session.tracks.append((source, track))  # before anything can fail: detach() finds it
        transceiver = session.pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(capabilities_like(codec))
        prepare_sender(
            transceiver.sender, source, codec, track, fast_forwarding=session.fast_forwarding
        )
    await session.pc.setLocalDescription(await session.pc.createOffer())
    description = session.pc.localDescription
    assert description is not None
    return str(description.sdp)


async def accept_answer(session: ViewerSession, sdp: str) -> None:
    if session.pc.signalingState != "have-local-offer":
        raise Conflict("no offer is waiting for an answer", code="no_pending_offer")
    await apply_remote(session.pc, RTCSessionDescription(sdp=sdp, type="answer"))
