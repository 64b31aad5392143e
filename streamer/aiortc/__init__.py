"""The seam between the media plane and aiortc, aioice and pylibsrtp.

The only code that names their private attributes: the receiver tap, the packer shim and
packetizing, peer connections and ICE host addresses, codec choice, the SRTP context, and
typed handles on a sender's and its transports' RTP state. All of it is checked at once by
``check_internals`` (``tests/test_architecture.py`` fails when any other module names a
private attribute of those libraries).
"""

from streamer.aiortc.ice import LOOPBACK, HostAddresses
from streamer.aiortc.internals import check_internals
from streamer.aiortc.peer import PeerConnection, new_peer_connection

__all__ = ["LOOPBACK", "HostAddresses", "PeerConnection", "check_internals", "new_peer_connection"]
