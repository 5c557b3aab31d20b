"""Timed sync nodes: each attempt on a thread of its own.

Python cannot stop a thread. A sync node with ``timeout=`` that overruns keeps running after
the scheduler stops waiting for it; what the scheduler can promise is that such leftover work
never takes a worker another node needs (each timed attempt gets its own daemon thread, not a
slot of the shared pool), and that a retry never runs beside an attempt of the same task that
is still going (the retry waits for it, for at most one more timeout, and the task fails if it
is still running then). An async node is cancelled at its timeout, which does stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import Any


class Attempt:
    """One attempt of a sync node, running on its own daemon thread."""

    __slots__ = ("ended", "result")

    def __init__(self, name: str, call: Callable[..., Any], args: tuple[Any, ...]) -> None:
        loop = asyncio.get_running_loop()
        self.result: asyncio.Future[Any] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()
        self.result.add_done_callback(_retrieved)  # an abandoned attempt's error is not logged
        context = contextvars.copy_context()

        def work() -> None:
            try:
                value = context.run(call, *args)
            except BaseException as exc:  # handed to the awaiting task, whatever it is
                _deliver(loop, self.result, exc, None)
            else:
                _deliver(loop, self.result, None, value)
            finally:
                _deliver(loop, self.ended, None, None)

        threading.Thread(target=work, name=f"orchestrator:{name}", daemon=True).start()

    async def wait(self, timeout: float) -> Any:
        """The node's result; TimeoutError once ``timeout`` seconds have passed (the thread
        goes on, see the module's note)."""
        return await asyncio.wait_for(asyncio.shield(self.result), timeout)

    async def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; whether it did."""
        if self.ended.done():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.ended), timeout)
        return self.ended.done()


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _deliver(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    error: BaseException | None,
    value: Any,
) -> None:
    def put() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
        loop.call_soon_threadsafe(put)
