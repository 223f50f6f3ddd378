"""One request lifecycle: admit -> run the engine (deadline, effects, abort) -> encode -> release -> finish
(counters and the request log), each step once per request whatever way it ends. HTTP streams, complete
files (the compatibility routes' too, with the result cache), SSE, the WebSocket and Wyoming all go
through it; the edges only choose how to send what it gives."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Generic, TypeVar

from flashtts.serving.admission import Ticket
from flashtts.serving.execution import Execution
from flashtts.serving.plans import Disconnected, Plan
from flashtts.serving.result_cache import ResultCache

T = TypeVar("T", bytes, str)
"""What a stream carries: encoded audio, or SSE text."""
P = TypeVar("P")


class Lifecycle:
    """Admission, running and finishing of plans (built once with the service, with its result cache)."""

    def __init__(self, execution: Execution, cache: ResultCache) -> None:
        self.execution = execution
        self.cache = cache
        """Complete answers kept for the routes that ask for them (disabled when ``--result_cache_mb`` is 0)."""

    async def guarded(self, plan: Plan, parts: AsyncGenerator[P, None],
                      ticket: Ticket | None = None) -> AsyncGenerator[P, None]:
        """Yield ``parts``; whatever happens, free the synthesis slot (when given its ``ticket``) and
        finish the request once."""
        error: BaseException | None = None
        try:
            async with aclosing(parts) as it:
                async for part in it:
                    yield part
        except Exception as exc:
            error = exc
            raise
        finally:
            if ticket is not None:
                ticket.generated()
            self.execution.finish(plan, error)

    async def stream(self, plan: Plan, parts: AsyncGenerator[T, None], *, buffer_bytes: int,
                     first: bool = True) -> AsyncIterator[T]:
        """``parts`` of an admitted plan (429 now when full), produced in their own task into a buffer of
        ``buffer_bytes`` (the slot is freed when generation ends, the client's count when the stream is
        closed). ``first``: the first part is awaited here, so an engine failure before any audio is
        still an error the edge can answer with a status."""
        ticket = self.execution.admit(plan.client)
        buffered = Buffered(self.guarded(plan, parts, ticket), buffer_bytes, ticket)
        if not first:
            return buffered
        head: T | None
        try:
            head = await buffered.__anext__()
        except StopAsyncIteration:
            head = None  # an empty answer
        except BaseException:
            await buffered.aclose()
            raise
        return Prefetched(head, buffered)

    async def file(self, plan: Plan, disconnected: Disconnected | None = None, *,
                   cached: bool = False) -> tuple[bytes, float]:
        """The plan's whole file and duration, admitted (429 when full), its slot freed and the request
        finished once; from the result cache when ``cached`` and it holds the answer."""
        return (await self.files([plan], disconnected, cached=cached))[0]

    async def files(self, plans: list[Plan], disconnected: Disconnected | None = None, *,
                    cached: bool = False) -> list[tuple[bytes, float]]:
        """Complete files for several plans at once (they batch in the engine); all admitted up front,
        so a full server refuses the whole request with 429 rather than half of it."""
        if len(plans) > 1:  # plans of one HTTP request share its id: keep their engine requests apart
            for i, plan in enumerate(plans):
                for j, seg in enumerate(plan.segments):
                    seg.request_id = f"{plan.request_id}-{i}.{j}"
        cache = self.cache if cached else None
        results: list[tuple[bytes, float] | None] = [None] * len(plans)
        keys: list[str | None] = [None] * len(plans)
        todo: list[int] = []
        for i, plan in enumerate(plans):
            if cache is not None and cache.enabled:
                keys[i] = key = cache.key(plan)
                hit = cache.get(key)
                if hit is not None:
                    results[i] = hit
                    self.execution.metrics.inc("requests_total")
                    self.execution.metrics.inc("result_cache_hits_total")
                    continue
            todo.append(i)
        tickets = []
        try:
            for i in todo:
                tickets.append(self.execution.admit(plans[i].client))
        except BaseException:
            for ticket in tickets:
                ticket.release()
            raise

        async def run(i: int, ticket) -> None:
            error: BaseException | None = None
            try:
                results[i] = await self.execution.complete(plans[i], disconnected)
            except BaseException as exc:
                error = exc
                raise
            finally:
                ticket.release()
                self.execution.finish(plans[i], error)
            key, result = keys[i], results[i]
            if cache is not None and key is not None and result is not None:
                cache.put(key, *result)

        tasks = [asyncio.ensure_future(run(i, t)) for i, t in zip(todo, tickets, strict=True)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return results  # type: ignore[return-value]  # every slot is filled by now


class Buffered(Generic[T]):
    """A stream produced in its own task into a buffer of at most ``max_bytes``.

    Synthesis runs ahead of a slow reader until the buffer is full; once the producer is done its
    slot is free (see :meth:`Lifecycle.guarded`) while the client still drains the buffer. Closing the
    drain (client gone, send timeout) cancels the producer, which aborts the engine work, and ends
    the ticket.
    """

    def __init__(self, parts: AsyncGenerator[T, None], max_bytes: int, ticket: Ticket) -> None:
        self._items: deque[T] = deque()
        self._size = 0
        self._max = max(1, max_bytes)
        self._done = False
        self._error: BaseException | None = None
        self._changed = asyncio.Event()
        self._ticket = ticket
        self._task = asyncio.ensure_future(self._run(parts))

    async def _wait_change(self) -> None:
        await self._changed.wait()
        self._changed.clear()

    async def _run(self, parts: AsyncGenerator[T, None]) -> None:
        try:
            async with aclosing(parts) as it:
                async for part in it:
                    while self._size >= self._max:
                        await self._wait_change()
                    self._items.append(part)
                    self._size += len(part)
                    self._changed.set()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._error = exc
        finally:
            self._done = True
            self._changed.set()

    def __aiter__(self) -> Buffered[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._done:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                raise StopAsyncIteration
            await self._wait_change()
        part = self._items.popleft()
        self._size -= len(part)
        self._changed.set()
        return part

    async def aclose(self) -> None:
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._items.clear()
        self._ticket.release()


class Prefetched(Generic[T]):
    """A stream whose first part was already taken (to fail before headers), then the rest."""

    def __init__(self, first: T | None, rest: Buffered[T]) -> None:
        self._first: T | None = first
        self._rest: Buffered[T] = rest

    def __aiter__(self) -> Prefetched[T]:
        return self

    async def __anext__(self) -> T:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await self._rest.__anext__()

    async def aclose(self) -> None:
        await self._rest.aclose()
