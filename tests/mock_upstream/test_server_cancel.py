"""The mock's server carries out a cancellation: what of a cancelled response was not yet due never goes out."""

import asyncio
import json
import time

from websockets.asyncio.client import connect

from voice_harness.mock_upstream.scenario import Scenario
from voice_harness.mock_upstream.server import MockUpstream
from voice_harness.wire.recording import Recorder

from support import USER_ITEM, next_event, run_async

REPLY_S = 1.0   # 20 deltas 50 ms apart


def test_a_cancelled_response_sends_nothing_more_of_itself():
    async def scenario():
        mock = MockUpstream(Recorder())
        mock.use(Scenario(reply_chunks=20, delta_interval_ms=50, closes=()))
        await mock.start()
        after_cancel = []
        async with connect(mock.url) as ws:
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            await next_event(ws, "session.updated")
            await ws.send(json.dumps(USER_ITEM))
            await next_event(ws, "conversation.item.done")
            await ws.send(json.dumps({"type": "response.create"}))
            await next_event(ws, "response.output_text.delta")
            await ws.send(json.dumps({"type": "response.cancel"}))
            # Everything until the uncancelled response would have ended, and a margin.
            deadline = time.monotonic() + REPLY_S + 0.5
            while (left := deadline - time.monotonic()) > 0:
                try:
                    async with asyncio.timeout(left):
                        after_cancel.append(json.loads(await ws.recv()))
                except TimeoutError:
                    break
        await mock.stop()
        return after_cancel

    events = run_async(scenario())
    done = [e for e in events if e["type"] == "response.done"]
    assert [d["response"]["status"] for d in done] == ["cancelled"]
    tail = [e["type"] for e in events[events.index(done[0]):]]
    assert tail == ["response.done", "rate_limits.updated"], tail
    assert len([e for e in events if e["type"] == "response.output_text.delta"]) < 19
