"""The ``--baseline janus`` server: Debian's ``janus`` with its streaming plugin.

Each run writes a configuration into a fresh temporary directory (``janus -F``): the HTTP
transport on 127.0.0.1 and the streaming plugin alone (each loaded from a folder holding
only its link), no STUN/TURN, no event handlers, session timeouts off, and one RTP
mountpoint (``MOUNTPOINT``) whose video and audio ports listen on 127.0.0.1 for the
publisher's plain RTP. Janus never gathers candidates on an interface flagged loopback;
``janus_loopback.c``, compiled into the same directory and preloaded, clears that flag so
``ice_enforce_list = "127.0.0.1"`` yields a 127.0.0.1 candidate. With a ``Topology``
(``--topology netns``) Janus runs in the server's namespace instead, every address above
being the server's veth address. The process is pinned like ``directlive serve`` (all its
threads on the server core) and the directory is removed at exit.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import Server, free_port
from benchmarks.netns import Topology

JANUS = "janus"
MOUNTPOINT = 1
VIDEO_PT = 96
AUDIO_PT = 111
SHIM_SOURCE = Path(__file__).with_name("janus_loopback.c")
JANUS_CODECS = {"vp8": "vp8", "h264": "h264"}


@dataclass
class JanusServer(Server):
    video_port: int = 0
    """Where the mountpoint takes the publisher's video RTP (``address``, UDP)."""
    audio_port: int = 0
    address: str = "127.0.0.1"
    mountpoint: int = MOUNTPOINT


def janus_available() -> str | None:
    """Why the Janus baseline cannot run here, or None when it can."""
    if shutil.which(JANUS) is None:
        return "janus is not installed (apt-get install janus; scripts/system-deps.sh)"
    if _plugin_dir() is None:
        return "no janus/plugins/libjanus_streaming.so under /usr/lib"
    if shutil.which("cc") is None:
        return "no C compiler (cc) to build the loopback shim"
    return None


def _plugin_dir() -> Path | None:
    """Debian's janus module folder (``/usr/lib/<multiarch>/janus``)."""
    for root in (*sorted(Path("/usr/lib").glob("*/janus")), Path("/usr/lib/janus")):
        if (root / "plugins" / "libjanus_streaming.so").exists():
            return root
    return None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(
    folder: Path,
    http_port: int,
    video_port: int,
    audio_port: int,
    codec: str,
    address: str = "127.0.0.1",
) -> None:
    """The configuration files of one run (everything on ``address``), and folders linking
    the two modules it loads."""
    root = _plugin_dir()
    assert root is not None
    for kind, module in (("plugins", "libjanus_streaming.so"), ("transports", "libjanus_http.so")):
        (folder / kind).mkdir()
        (folder / kind / module).symlink_to(root / kind / module)
    for kind in ("events", "loggers"):
        (folder / kind).mkdir()
    (folder / "janus.jcfg").write_text(
        f"""general: {{
\tconfigs_folder = "{folder}"
\tplugins_folder = "{folder}/plugins"
\ttransports_folder = "{folder}/transports"
\tevents_folder = "{folder}/events"
\tloggers_folder = "{folder}/loggers"
\tdebug_level = 3
\tsession_timeout = 0
\tserver_name = "directlive-bench"
\tinterface = "{address}"
}}
certificates: {{
}}
media: {{
}}
nat: {{
\tice_enforce_list = "{address}"
\tignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
\tbroadcast = false
}}
"""
    )
    (folder / "janus.transport.http.jcfg").write_text(
        f"""general: {{
\tjson = "plain"
\tbase_path = "/janus"
\thttp = true
\tport = {http_port}
\tip = "{address}"
\thttps = false
}}
admin: {{
\tadmin_http = false
\tadmin_https = false
}}
"""
    )
    (folder / "janus.plugin.streaming.jcfg").write_text(
        f"""general: {{
}}
bench: {{
\ttype = "rtp"
\tid = {MOUNTPOINT}
\tdescription = "directlive bench loop"
\tmedia = (
\t\t{{ type = "video", mid = "v", port = {video_port}, pt = {VIDEO_PT}, \
codec = "{JANUS_CODECS[codec]}", iface = "{address}" }},
\t\t{{ type = "audio", mid = "a", port = {audio_port}, pt = {AUDIO_PT}, \
codec = "opus", iface = "{address}" }}
\t)
}}
"""
    )


def _build_shim(folder: Path) -> Path:
    library = folder / "janus_loopback.so"
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O2", "-o", str(library), str(SHIM_SOURCE), "-ldl"],
        check=True,
        capture_output=True,
    )
    return library


def pin_threads(pid: int, core: set[int]) -> None:
    """Pin every thread ``pid`` has now; threads it starts later inherit their creator's."""
    with suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with suppress(OSError):
                os.sched_setaffinity(int(task), core)


@contextmanager
def run_janus(
    core: set[int], codec: str, timeout: float = 30.0, topology: Topology | None = None
) -> Iterator[JanusServer]:
    """Start Janus pinned to ``core`` with a mountpoint for ``codec`` (in ``topology``'s
    server namespace when given); stop it at exit."""
    reason = janus_available()
    if reason is not None:
        raise RuntimeError(reason)
    http_port, video_port, audio_port = free_port(), free_udp_port(), free_udp_port()
    with tempfile.TemporaryDirectory(prefix="directlive-janus-") as name:
        folder = Path(name)
        address = "127.0.0.1" if topology is None else topology.server_address
        write_config(folder, http_port, video_port, audio_port, codec, address)
        environment = {**os.environ, "LD_PRELOAD": str(_build_shim(folder))}
        log_path = folder / "janus.log"
        with open(log_path, "wb") as log:
            command = [JANUS, "-F", str(folder), "-C", str(folder / "janus.jcfg"), "-o"]
            process = subprocess.Popen(
                command if topology is None else topology.server_command(command),
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: os.sched_setaffinity(0, core),
            )
        server = JanusServer(
            f"http://{address}:{http_port}/janus", process, video_port, audio_port, address
        )
        try:
            _wait_ready(server, log_path, timeout)
            pin_threads(process.pid, core)
            yield server
        except BaseException:
            tail = log_path.read_text(errors="replace").splitlines()[-40:]
            print("janus's log, last lines:", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(server: JanusServer, log_path: Path, timeout: float) -> None:
    """Until Janus answers ``GET /janus/info`` listing the streaming plugin."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            log = log_path.read_text(errors="replace")
            raise RuntimeError(f"janus exited at start-up:\n{log[-2000:]}")
        with (
            suppress(urllib.error.URLError, ConnectionError, TimeoutError, ValueError),
            urllib.request.urlopen(f"{server.url}/info", timeout=1) as response,
        ):
            info = json.loads(response.read())
            if "janus.plugin.streaming" in info.get("plugins", {}):
                return
        if time.monotonic() > deadline:
            log = log_path.read_text(errors="replace")
            raise RuntimeError(f"janus was not ready within {timeout}s:\n{log[-2000:]}")
        time.sleep(0.05)
