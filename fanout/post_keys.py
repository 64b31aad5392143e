"""Redis keys and encoding of recordings and direct posts (same conventions as
``fanout.redis_keys``: hash tags per object, msgpack records).

==============================  =====  ==========================================================
key                             type   content
==============================  =====  ==========================================================
dl:{r:L}                        str    msgpack recording of live L
dl:{r:L}:grants                 set    users the host shared the recording with
dl:{u:U}:recs                   zset   live id -> seq: U's archive of recordings
dl:{n:N}:unfinished             set    lives recorded on node N whose files were never
                                       finalized (recording, or stranded by a crash)
dl:{p:P}                        str    msgpack post P
dl:{p:P}:likes                  set    users who like post P
dl:{p:P}:comments               zset   msgpack comment -> seq
dl:{t:T}:posts                  zset   post id -> seq: posts of thread T
==============================  =====  ==========================================================
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

from fanout.post_models import Comment, Post, Recording, RecordingFile
from fanout.redis_keys import pack, unpack


def recording(live_id: str, what: str = "") -> str:
    return f"dl:{{r:{live_id}}}" + (f":{what}" if what else "")


def post(post_id: str, what: str = "") -> str:
    return f"dl:{{p:{post_id}}}" + (f":{what}" if what else "")


def archive(user: str) -> str:
    return f"dl:{{u:{user}}}:recs"


def unfinished(node: str) -> str:
    return f"dl:{{n:{node}}}:unfinished"


def thread_posts(thread_id: str) -> str:
    return f"dl:{{t:{thread_id}}}:posts"


def pack_recording(r: Recording) -> bytes:
    files = [
        [f.name, f.participant, f.mime_type, list(f.codecs), f.size, f.duration] for f in r.files
    ]
    fields = [r.live_id, r.host, r.seq, r.node, r.state, r.started_at, r.ended_at, r.failure]
    return pack([*fields, list(r.participants), files])


def unpack_recording(blob: Any) -> Recording:
    *fields, participants, files = unpack(blob)
    live_id, host, seq, node, state, started_at, ended_at, failure = fields
    return Recording(
        live_id,
        host,
        seq,
        node,
        state,
        started_at,
        ended_at,
        failure,
        tuple(participants),
        tuple(RecordingFile(n, p, m, tuple(c), s, d) for n, p, m, c, s, d in files),
    )


def pack_post(p: Post) -> bytes:
    return pack(astuple(p))


def unpack_post(blob: Any) -> Post:
    return Post(*unpack(blob))


def pack_comment(c: Comment) -> bytes:
    return pack(astuple(c))


def unpack_comment(blob: Any) -> Comment:
    return Comment(*unpack(blob))
