"""The batcher: stacking, queue bound, preferred sizes, backend failures and draining, with a fake runner."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from motherboard.models.tensors import TensorSpec
from motherboard.runtime.batcher import Batcher
from motherboard.runtime.config import Batching
from motherboard.runtime.errors import InferError, Status
from motherboard.runtime.stats import VersionStats


class FakeRunner:
    """y = 2x, taking ``seconds`` per execution; records the batch sizes it saw."""

    backend = "fake"
    target = "cpu-test"
    manifest = None
    thread_safe = False

    def __init__(self, seconds: float = 0.0, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.batches: list[int] = []
        self.closed = False
        self._running = threading.Lock()

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("x", "FP32", (-1, 2)),)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("y", "FP32", (-1, 2)),)

    def run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
        assert self._running.acquire(blocking=False), "a runner that is not thread-safe ran twice at once"
        try:
            if self.fail:
                raise RuntimeError("kernel exploded")
            time.sleep(self.seconds)
            self.batches.append(feeds["x"].shape[0])
            return {"y": feeds["x"] * 2}
        finally:
            self._running.release()

    def close(self) -> None:
        self.closed = True


def x_of(value: float, rows: int = 1) -> dict[str, np.ndarray[Any, Any]]:
    return {"x": np.full((rows, 2), value, dtype=np.float32)}


def test_concurrent_requests_are_stacked_and_split_back_in_order() -> None:
    async def main() -> tuple[list[Any], FakeRunner, VersionStats]:
        runner = FakeRunner(seconds=0.01)
        stats = VersionStats()
        batcher = Batcher("m", [runner], 8, Batching(max_queue_delay_us=20_000), stats)
        futures = [batcher.submit(x_of(i, rows=1 + i % 2), 1 + i % 2) for i in range(6)]
        results = await asyncio.gather(*futures)
        await batcher.close()
        return results, runner, stats

    results, runner, stats = asyncio.run(main())
    for i, out in enumerate(results):
        np.testing.assert_array_equal(out["y"], np.full((1 + i % 2, 2), 2 * i, dtype=np.float32))
    assert sum(runner.batches) == 9 and max(runner.batches) > 2
    assert stats.inference_count == 9 and stats.execution_count == len(runner.batches)
    assert runner.closed


def test_a_full_queue_refuses_at_once_with_the_reason() -> None:
    async def main() -> tuple[int, list[str]]:
        batcher = Batcher(
            "m", [FakeRunner(seconds=0.05)], 0, Batching(enabled=False, max_queue_size=2), VersionStats()
        )
        accepted, refused = [], []
        for i in range(6):
            try:
                accepted.append(batcher.submit(x_of(i), 1))
            except InferError as exc:
                assert exc.status is Status.UNAVAILABLE
                refused.append(exc.message)
        await asyncio.gather(*accepted)
        await batcher.close()
        return len(accepted), refused

    accepted, refused = asyncio.run(main())
    assert accepted >= 2 and refused
    assert all("queue is full (2 requests waiting, max_queue_size)" in r for r in refused)


def test_a_preferred_size_ends_the_wait_early() -> None:
    async def main() -> tuple[float, list[int]]:
        runner = FakeRunner()
        batcher = Batcher(
            "m",
            [runner],
            16,
            Batching(max_queue_delay_us=2_000_000, preferred_batch_sizes=(4,)),
            VersionStats(),
        )
        start = time.monotonic()
        await asyncio.gather(*(batcher.submit(x_of(i), 1) for i in range(4)))
        elapsed = time.monotonic() - start
        await batcher.close()
        return elapsed, runner.batches

    elapsed, batches = asyncio.run(main())
    assert batches == [4] and elapsed < 1.0


def test_a_backend_failure_fails_its_batch_and_the_worker_goes_on() -> None:
    async def main() -> tuple[str, Any]:
        runner = FakeRunner(fail=True)
        batcher = Batcher("m", [runner], 4, Batching(), VersionStats())
        with pytest.raises(InferError) as caught:
            await batcher.submit(x_of(1), 1)
        runner.fail = False
        after = await batcher.submit(x_of(3), 1)
        await batcher.close()
        return caught.value.message, after

    message, after = asyncio.run(main())
    assert "backend failed: kernel exploded" in message
    np.testing.assert_array_equal(after["y"], np.full((1, 2), 6, dtype=np.float32))


def test_close_finishes_queued_requests_then_refuses_new_ones() -> None:
    async def main() -> tuple[int, str]:
        batcher = Batcher("m v1", [FakeRunner(seconds=0.01)], 0, Batching(enabled=False), VersionStats())
        futures = [batcher.submit(x_of(i), 1) for i in range(5)]
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0)
        with pytest.raises(InferError) as caught:
            batcher.submit(x_of(9), 1)
        done = await asyncio.gather(*futures)
        await closing
        return len(done), caught.value.message

    done, message = asyncio.run(main())
    assert done == 5 and "is being unloaded" in message


def test_instances_that_are_not_thread_safe_each_get_their_own_runner() -> None:
    async def main() -> list[FakeRunner]:
        runners = [FakeRunner(seconds=0.005) for _ in range(3)]
        batcher = Batcher("m", runners, 0, Batching(enabled=False), VersionStats())
        await asyncio.gather(*(batcher.submit(x_of(i), 1) for i in range(30)))
        await batcher.close()
        return runners

    runners = asyncio.run(main())
    assert sum(len(r.batches) for r in runners) == 30
    assert sum(1 for r in runners if r.batches) >= 2  # the work spread over instances
