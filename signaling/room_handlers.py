"""What the server does for each live-room socket message."""

from __future__ import annotations

from fanout import Fanout
from signaling.hub import Connection
from signaling.lives import LiveService
from signaling.room_messages import (
    GuestLeave,
    GuestPublish,
    HostDecision,
    JoinRequest,
    PostComment,
    React,
    RecentComments,
    RemoveComment,
    RoomJoin,
    RoomLeave,
    RoomMessage,
    RoomSettingsChange,
    SessionAnswer,
)

Reply = dict[str, object]


async def handle_room_message(
    lives: LiveService, fanout: Fanout, connection: Connection, message: RoomMessage
) -> Reply:
    user = connection.user
    rooms = fanout.rooms
    room = lives.room
    match message:
        case RoomJoin(live_id=live_id, session_id=session_id):
            await lives.join_room(user, live_id, connection, session_id)
            joined: dict[str, object] = {"type": "room.joined", "live_id": live_id}
            return joined if session_id is None else {**joined, "session_id": session_id}
        case RoomLeave(live_id=live_id):
            room.leave(live_id, connection)
            return {"type": "room.left", "live_id": live_id}
        case JoinRequest(live_id=live_id):
            status = await rooms.request_join(user, live_id)
            live = await fanout.get_live(live_id)
            if status == "requested":
                await room.send_to_user(
                    live.host, {"type": "join.requested", "live_id": live_id, "user": user}
                )
            else:
                await room.send_to_user(user, {"type": "join.accepted", "live_id": live_id})
            return {"type": "join.request.ok", "live_id": live_id, "status": status}
        case HostDecision(action=action, live_id=live_id, user=target):
            await _decide(lives, fanout, user, action, live_id, target)
            return {"type": f"{action}.ok", "live_id": live_id, "user": target}
        case GuestPublish(live_id=live_id, sdp=sdp):
            answer = await lives.cobroadcast.publish_guest(user, live_id, sdp, whip=False)
            return {"type": "live.published", "live_id": live_id, "sdp": answer}
        case GuestLeave(live_id=live_id):
            await lives.cobroadcast.remove_guest(user, live_id, user)
            return {"type": "guest.leave.ok", "live_id": live_id}
        case RoomSettingsChange(live_id=live_id, comments=comments, joins=joins):
            settings = await rooms.update_settings(user, live_id, comments=comments, joins=joins)
            event: Reply = {
                "type": "live.settings",
                "live_id": live_id,
                "comments": settings.comments,
                "joins": settings.joins,
            }
            await room.send(live_id, event)
            return dict(event)
        case PostComment(live_id=live_id, text=text):
            comment = await rooms.comment(user, live_id, text)  # publishes comment.new
            return {"type": "comment.ok", "live_id": live_id, "comment_id": comment.comment_id}
        case React(live_id=live_id, kind=kind):
            await rooms.react(user, live_id, kind)
            await room.send(
                live_id, {"type": "reaction.new", "live_id": live_id, "user": user, "kind": kind}
            )
            return {"type": "reaction.ok", "live_id": live_id}
        case RemoveComment(live_id=live_id, comment_id=comment_id):
            await rooms.remove_comment(user, live_id, comment_id)
            await room.send(
                live_id, {"type": "comment.removed", "live_id": live_id, "comment_id": comment_id}
            )
            return {"type": "comment.remove.ok", "live_id": live_id, "comment_id": comment_id}
        case RecentComments(live_id=live_id, limit=limit):
            recent = await rooms.recent_comments(user, live_id, limit)
            return {
                "type": "comments",
                "live_id": live_id,
                "comments": [c.to_json() for c in recent],
            }
        case SessionAnswer(live_id=live_id, session_id=session_id, sdp=sdp):
            await lives.cobroadcast.answer(user, live_id, session_id, sdp)
            return {"type": "session.answer.ok", "live_id": live_id, "session_id": session_id}


async def _decide(
    lives: LiveService, fanout: Fanout, host: str, action: str, live_id: str, target: str
) -> None:
    rooms = fanout.rooms
    room = lives.room
    if action == "join.accept":
        await rooms.accept(host, live_id, target)
        await room.send_to_user(target, {"type": "join.accepted", "live_id": live_id})
    elif action == "join.decline":
        await rooms.decline(host, live_id, target)
        await room.send_to_user(target, {"type": "join.declined", "live_id": live_id})
    elif action == "join.invite":
        await rooms.invite(host, live_id, target)
        await room.send_to_user(target, {"type": "join.invited", "live_id": live_id, "from": host})
    elif action == "guest.remove":
        await lives.cobroadcast.remove_guest(host, live_id, target)
    else:  # viewer.remove
        if target in (await fanout.get_live(live_id)).guests:
            await lives.cobroadcast.remove_guest(host, live_id, target)  # stops their media
        await rooms.remove_viewer(host, live_id, target)
        await lives.evict(live_id, target, "removed_by_host")
        await fanout.hub.recheck([live_id])  # the other nodes evict the now banned viewer
