"""A background asyncio loop of the pytest worker, for the in-process servers (mock upstream, relays)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine

from voice_harness.timeouts import units


class LoopThread:
    def __init__(self, name: str = "harness-loop"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine, timeout: float | None = None) -> Any:
        """Run coro on the loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout if timeout is not None else units(10))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(units(5))
