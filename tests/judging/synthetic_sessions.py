"""Builders of hand-made session frames for the judges' unit tests: both legs on one clock, client connection 1
served by upstream connection 1 unless told otherwise."""

import base64
import json

from voice_harness.judging.timeline import Timeline
from voice_harness.wire.recording import Frame


def text(t, leg, arrow, data, conn=1, note=None):
    return Frame(t, leg, arrow, "text", data.get("type"), conn, len(json.dumps(data)), data, dict(note or {}))


def binary(t, leg, arrow, data: bytes, conn=1):
    return Frame(t, leg, arrow, "binary", None, conn, len(data), data)


def close(t, leg, arrow, code=1000, conn=1):
    return Frame(t, leg, arrow, "close", None, conn, 0, {"code": code, "reason": ""})


def flat(parts):
    for part in parts:
        if isinstance(part, (list, tuple)):
            yield from flat(part)
        else:
            yield part


def timeline(*parts):
    """The frames of these parts (frames or nested lists of them) in time order."""
    return Timeline(sorted(flat(parts), key=lambda f: f.t), 0.0)


def to_client(t, type_, conn=1, **fields):
    return text(t, "A", "<-", {"type": type_, **fields}, conn)


def from_client(t, type_, conn=1, **fields):
    return text(t, "A", "->", {"type": type_, **fields}, conn)


def upstream(t, type_, conn=1, **fields):
    """An event the upstream sent the proxy."""
    return text(t, "B", "<-", {"type": type_, **fields}, conn)


def proxy(t, type_, conn=1, **fields):
    """An event the proxy sent the upstream."""
    return text(t, "B", "->", {"type": type_, **fields}, conn)


def settings(t=0.0, conn=1, greeting=None, context=()):
    agent = {"think": {"prompt": "p"}}
    if greeting:
        agent["greeting"] = greeting
    if context:
        agent["context"] = {"messages": [{"role": r, "content": c} for r, c in context]}
    return [from_client(t, "Settings", conn, agent=agent), proxy(t + 0.001, "session.update", conn, session={})]


def item(role, item_id, content, kind="input_text"):
    return {"id": item_id, "type": "message", "role": role, "content": [{"type": kind, "text": content}]}


def typed(t, content, item_id, conn=1, confirmed_after=0.01):
    """The client's InjectUserMessage, the proxy's user item and the upstream's confirmation of it."""
    return [from_client(t, "InjectUserMessage", conn, content=content),
            proxy(t + 0.001, "conversation.item.create", conn, item=item("user", item_id, content)),
            upstream(t + 0.001 + confirmed_after, "conversation.item.added", conn,
                     item={"id": item_id, "type": "message", "role": "user"})]


def created(t, rid, conn=1):
    return upstream(t, "response.created", conn, response={"id": rid})


def done(t, rid, conn=1):
    return upstream(t, "response.done", conn, response={"id": rid})


def audio(t, rid, data: bytes, conn=1, lag=0.002):
    """One audio delta upstream and the binary frame the proxy made of it for the client."""
    return [upstream(t, "response.output_audio.delta", conn, response_id=rid, delta=base64.b64encode(data).decode()),
            binary(t + lag, "A", "<-", data, conn)]


def assistant_text(t, content="answer", conn=1):
    return to_client(t, "ConversationText", conn, role="assistant", content=content)


def inject(t, content, conn=1):
    return from_client(t, "InjectUserMessage", conn, content=content)


def user_item(t, item_id, content, conn=1):
    return proxy(t, "conversation.item.create", conn, item=item("user", item_id, content))


def confirmed(t, item_id, conn=1):
    return upstream(t, "conversation.item.added", conn, item={"id": item_id, "role": "user"})


def create(t, note=None, conn=1):
    return text(t, "B", "->", {"type": "response.create"}, conn, note)


def reply_done(t, rid, reply, status="completed"):
    """The upstream's response.done of a text reply `reply`."""
    return text(t, "B", "<-", {"type": "response.done", "response": {"id": rid, "status": status, "output": [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": reply}]}]}})


def first_reply_streaming(second_confirmed_at=0.25):
    """One message answered by r1; a second message sent while r1 streams, confirmed during it (r1 done at 0.4)."""
    frames = [text(0.0, "B", "->", {"type": "session.update", "session": {}}),
              inject(0.1, "one"), user_item(0.101, "u1", "one"), confirmed(0.15, "u1"), create(0.15),
              created(0.151, "r1"), inject(0.2, "two"), user_item(0.201, "u2", "two")]
    if second_confirmed_at is not None:
        frames.append(confirmed(second_confirmed_at, "u2"))
    return frames + [reply_done(0.4, "r1", "reply one"), assistant_text(0.401, "reply one")]
