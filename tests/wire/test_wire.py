"""The mock server and the recording relay over real loopback sockets, without a browser."""

import asyncio
import contextlib
import json
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from voice_harness.wire.recording import Recorder
from voice_harness.wire.relay import Relay
from voice_harness.mock_upstream.scenario import Close as CloseRule, Scenario
from voice_harness.mock_upstream.server import MockUpstream

from support import USER_ITEM, next_event, run_async



def test_the_mock_answers_like_the_service_and_records_both_directions():
    async def scenario():
        recorder = Recorder()
        mock = MockUpstream(recorder)
        await mock.start()
        async with connect(mock.url) as ws:
            await next_event(ws, "session.created")
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            await next_event(ws, "session.updated")
            await ws.send(json.dumps(USER_ITEM))
            added = await next_event(ws, "conversation.item.added")
            await ws.send(json.dumps({"type": "response.create"}))
            done = await next_event(ws, "conversation.item.done")
            while done["item"]["role"] != "assistant":
                done = await next_event(ws, "conversation.item.done")
        await mock.stop()
        return recorder.since(), added, done

    frames, added, done = run_async(scenario())
    assert added["item"]["role"] == "user"
    assert done["item"]["content"][0]["text"] == "Mock reply to: hi"
    labels = [f.label() for f in frames]
    assert labels[:2] == ["B<- session.created", "B-> session.update"]
    assert "B-> conversation.item.create(user)" in labels and "B<- response.done" in labels
    assert all(not f.note.get("problems") for f in frames)


def test_a_premature_response_create_is_met_with_a_close_1000_at_the_scripted_time():
    async def scenario():
        recorder = Recorder()
        mock = MockUpstream(recorder)
        mock.use(Scenario(closes=(CloseRule("premature_response_create", after_ms=300, code=1000, expected=False),)))
        await mock.start()
        async with connect(mock.url) as ws:
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            await next_event(ws, "session.updated")
            await ws.send(json.dumps(USER_ITEM))
            await ws.send(json.dumps({"type": "response.create"}))
            sent = time.monotonic()
            async with asyncio.timeout(5):
                async for message in ws:
                    assert json.loads(message)["type"].startswith("conversation.item."), message
            elapsed = time.monotonic() - sent
            code = ws.protocol.close_rcvd.code
        await mock.stop()
        return recorder.since(), elapsed, code

    frames, elapsed, code = run_async(scenario())
    assert code == 1000 and 0.25 < elapsed < 2.0
    premature = [f for f in frames if f.type == "response.create"][0]
    assert premature.note["premature"] is True
    assert frames[-1].label() == "B<- close 1000"


def test_the_relay_passes_path_and_query_and_mirrors_the_close_code():
    async def scenario():
        seen = {}

        async def target(ws):
            seen["path"] = ws.request.path
            await ws.send(await ws.recv())
            await ws.close(4001, "done here")

        recorder = Recorder()
        async with serve(target, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            relay = Relay(recorder, "A", f"ws://127.0.0.1:{port}")
            await relay.start()
            async with connect(relay.url("/openai?traceId=abc")) as ws:
                await ws.send('{"type": "KeepAlive"}')
                echo = await ws.recv()
                with contextlib.suppress(ConnectionClosed):
                    async with asyncio.timeout(5):
                        async for _ in ws:
                            pass
                close = ws.protocol.close_rcvd
            await relay.stop()
        return seen, echo, close, recorder.since()

    seen, echo, close, frames = run_async(scenario())
    assert seen["path"] == "/openai?traceId=abc"
    assert json.loads(echo) == {"type": "KeepAlive"}
    assert (close.code, close.reason) == (4001, "done here")
    assert [f.label() for f in frames] == ["A-> KeepAlive", "A<- KeepAlive", "A<- close 4001 done here"]



class _Side:
    """One side of a relayed connection, for driving the relay's pump without a network race."""

    def __init__(self, messages=(), close_rcvd=None, send_fails=False):
        self.messages, self.send_fails, self.closed_with = list(messages), send_fails, None
        self.protocol = type("P", (), {"close_rcvd": close_rcvd})()

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.messages:
            return self.messages.pop(0)
        raise StopAsyncIteration

    async def send(self, message):
        if self.send_fails:
            raise ConnectionClosed(self.protocol.close_rcvd, None)

    async def close(self, code=1000, reason=""):
        self.closed_with = (code, reason)


def test_a_client_closing_while_the_relay_sends_to_it_is_recorded_as_the_clients_close():
    """The race of LIFE-2: the app disconnects while a reply is on its way to it. The failed send toward the
    client is the client's close (A-> with its code), not a close by the proxy (A<- 1006)."""
    recorder = Recorder()
    relay = Relay(recorder, "A", "ws://127.0.0.1:1")
    client = _Side(close_rcvd=Close(1000, "bye"), send_fails=True)
    proxy = _Side(messages=['{"type": "ConversationText", "role": "assistant", "content": "hi"}'])

    async def both_pumps():
        first = []
        await asyncio.gather(relay._pump(proxy, client, "<-", 1, first, None),
                             relay._pump(client, proxy, "->", 1, first, None))

    run_async(both_pumps())
    closes = [f.label() for f in recorder.since() if f.kind == "close"]
    assert closes == ["A-> close 1000 bye"]
    assert proxy.closed_with == (1000, "bye")
