"""Dynamic batching and instances for one model version: a bounded queue drained by one worker per instance.

Requests wait in one FIFO queue (bounded: a full queue refuses at once with UNAVAILABLE, so memory never
grows without limit). Each instance has a worker coroutine and a thread of its own: it takes the head
request plus the requests behind it whose non-batch dimensions match, up to ``max_batch_size`` rows,
optionally waits up to ``max_queue_delay`` for a fuller (or a preferred-size) batch, stacks the inputs,
runs the backend on its thread (ONNX Runtime and TVM release the GIL) and splits the outputs back. With
batching off every request runs alone, still through the queue, so back-pressure and draining work the
same way.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from motherboard.models.runner import Runner
from motherboard.runtime.config import Batching
from motherboard.runtime.errors import InferError, Status, unavailable
from motherboard.runtime.stats import VersionStats

Arrays = dict[str, np.ndarray[Any, Any]]
INLINE_BELOW_NS = 150_000
"""A model whose executions average less than this runs on the event loop thread when an instance is idle:
handing it to a thread and back costs more than the model (a 16x32x8 MLP runs in 6 µs; the hop ~100 µs)."""


@dataclass
class Pending:
    """One queued request."""

    feeds: Arrays
    rows: int
    signature: tuple[Any, ...]
    future: asyncio.Future[Arrays]
    enqueued_ns: int = field(default_factory=time.perf_counter_ns)


@dataclass
class _Executed:
    outputs: list[Arrays]
    input_ns: int
    infer_ns: int
    output_ns: int


def _signature(feeds: Arrays, batching: bool) -> tuple[Any, ...]:
    """What must match for two requests to share a batch: names, dtypes, and the non-batch dimensions."""
    if not batching:
        return ()
    return tuple((name, a.dtype.str, a.shape[1:]) for name, a in feeds.items())


class Batcher:
    """Queue + workers of one model version; :meth:`submit` from the event loop thread only."""

    def __init__(
        self,
        label: str,
        runners: Sequence[Runner],
        max_batch_size: int,
        batching: Batching,
        stats: VersionStats,
    ) -> None:
        self.label = label
        self._runners = list(runners)
        self._batching = batching.enabled and max_batch_size > 0
        self._max_rows = max_batch_size if self._batching else 1
        self._delay_s = batching.max_queue_delay_us / 1e6 if self._batching else 0.0
        self._preferred = set(batching.preferred_batch_sizes)
        self._max_queue = batching.max_queue_size
        self._stats = stats
        self._queue: collections.deque[Pending] = collections.deque()
        self._wakeup = asyncio.Event()
        self._closing = False
        self._busy = 0
        self._executing = 0
        self._executing_requests = 0
        self._infer_ema_ns = float("inf")
        self._idle = asyncio.Event()
        self._idle.set()
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{label}-i{i}") for i in range(len(runners))
        ]
        self._workers = [
            asyncio.get_running_loop().create_task(self._work(runner, executor), name=f"{label}-worker{i}")
            for i, (runner, executor) in enumerate(zip(self._runners, self._executors, strict=True))
        ]

    @property
    def depth(self) -> int:
        """Requests waiting: queued, or held while a batch forms (not yet executing)."""
        return self._busy - self._executing_requests

    @property
    def busy(self) -> int:
        """Requests queued or executing."""
        return self._busy

    def submit(self, feeds: Arrays, rows: int) -> asyncio.Future[Arrays]:
        """Queue one request; UNAVAILABLE at once when the queue is full or the version is going away."""
        if self._closing:
            raise unavailable(f"{self.label} is being unloaded")
        if len(self._queue) >= self._max_queue:
            raise unavailable(
                f"{self.label}: queue is full ({self._max_queue} requests waiting, max_queue_size); retry later"
            )
        future: asyncio.Future[Arrays] = asyncio.get_running_loop().create_future()
        pending = Pending(feeds, rows, _signature(feeds, self._batching), future)
        if (
            self._infer_ema_ns < INLINE_BELOW_NS
            and not self._queue
            and not self._executing
            and not self._delay_s
        ):
            self._run_inline(pending)
            return future
        self._queue.append(pending)
        self._busy += 1
        self._idle.clear()
        self._wakeup.set()
        return future

    def _run_inline(self, pending: Pending) -> None:
        """Execute a lone request of a fast model right here (see ``INLINE_BELOW_NS``)."""
        self._stats.queue.add(0)
        try:
            done = _execute(self._runners[0], [pending], self._batching)
        except Exception as exc:  # a backend failure fails this request only
            pending.future.set_exception(InferError(Status.INTERNAL, f"{self.label}: backend failed: {exc}"))
            return
        self._observe(done.infer_ns)
        self._stats.record_batch(pending.rows, 1, done.input_ns, done.infer_ns, done.output_ns)
        pending.future.set_result(done.outputs[0])

    def _observe(self, infer_ns: int) -> None:
        ema = self._infer_ema_ns
        self._infer_ema_ns = float(infer_ns) if ema == float("inf") else 0.8 * ema + 0.2 * infer_ns

    def _take(self, taken: list[Pending], rows: int) -> int:
        """Move compatible requests from the queue's head into ``taken``; return the new row count."""
        if not taken:
            taken.append(self._queue.popleft())
            rows = taken[0].rows
        signature = taken[0].signature
        while self._queue and self._batching:
            head = self._queue[0]
            if head.signature != signature or rows + head.rows > self._max_rows:
                break
            taken.append(self._queue.popleft())
            rows += head.rows
        return rows

    def _full(self, rows: int) -> bool:
        return rows >= self._max_rows or rows in self._preferred

    async def _work(self, runner: Runner, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            taken: list[Pending] = []
            rows = self._take(taken, 0)
            if self._delay_s and not self._full(rows):
                deadline = taken[0].enqueued_ns / 1e9 + self._delay_s
                while not self._full(rows) and not self._closing:
                    remaining = deadline - time.perf_counter_ns() / 1e9
                    if remaining <= 0:
                        break
                    if not self._queue or self._queue[0].signature != taken[0].signature:
                        self._wakeup.clear()
                        try:
                            await asyncio.wait_for(self._wakeup.wait(), remaining)
                        except TimeoutError:
                            break
                    if self._queue and self._queue[0].signature == taken[0].signature:
                        before = rows
                        rows = self._take(taken, rows)
                        if rows == before:
                            break  # the head does not fit: run what we have
            start = time.perf_counter_ns()
            for item in taken:
                self._stats.queue.add(start - item.enqueued_ns)
            self._executing += 1
            self._executing_requests += len(taken)
            try:
                done = await loop.run_in_executor(executor, _execute, runner, taken, self._batching)
            except InferError as exc:
                self._finish(taken, exc)
                continue
            except Exception as exc:  # a backend failure fails this batch, not the worker
                self._finish(taken, InferError(Status.INTERNAL, f"{self.label}: backend failed: {exc}"))
                continue
            finally:
                self._executing -= 1
                self._executing_requests -= len(taken)
            if rows == taken[0].rows:
                self._observe(done.infer_ns)  # only single-request executions say what one request costs
            self._stats.record_batch(rows, len(taken), done.input_ns, done.infer_ns, done.output_ns)
            for item, outputs in zip(taken, done.outputs, strict=True):
                if not item.future.done():  # a cancelled caller (client gone) just drops its result
                    item.future.set_result(outputs)
            self._release(len(taken))

    def _finish(self, taken: list[Pending], exc: InferError) -> None:
        for item in taken:
            if not item.future.done():
                item.future.set_exception(exc)
        self._release(len(taken))

    def _release(self, count: int) -> None:
        self._busy -= count
        if self._busy == 0:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Refuse new requests, finish the queued and running ones; False if ``timeout`` ran out first."""
        self._closing = True
        self._wakeup.set()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 30.0) -> None:
        """Drain, stop the workers, fail whatever is left, release the threads and the runners."""
        drained = await self.drain(timeout)
        if not drained:
            while self._queue:
                item = self._queue.popleft()
                self._finish([item], unavailable(f"{self.label} was unloaded before the request ran"))
        self._wakeup.set()
        for worker in self._workers:
            if not drained:
                worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for executor in self._executors:
            executor.shutdown(wait=False)
        for runner in self._runners:
            runner.close()


def _execute(runner: Runner, taken: list[Pending], batching: bool) -> _Executed:
    """Stack, run, split: on an instance's own thread."""
    t0 = time.perf_counter_ns()
    if len(taken) == 1:
        feeds = taken[0].feeds
    else:
        feeds = {name: np.concatenate([p.feeds[name] for p in taken]) for name in taken[0].feeds}
    t1 = time.perf_counter_ns()
    results = runner.run(feeds)
    t2 = time.perf_counter_ns()
    if len(taken) == 1:
        outputs = [results]
    else:
        outputs = []
        offset = 0
        for item in taken:
            outputs.append({name: value[offset : offset + item.rows] for name, value in results.items()})
            offset += item.rows
    t3 = time.perf_counter_ns()
    return _Executed(outputs, t1 - t0, t2 - t1, t3 - t2)
