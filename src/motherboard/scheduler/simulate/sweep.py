"""Fan a sweep (policies × seeds) out: serially, over local processes, or through Ray.

Ray is optional (the ``ray`` extra); without it the sweep runs on local processes, and asking for Ray
says how to install it rather than failing obscurely.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from motherboard.scheduler.simulate.convert import node_spec, pod_request
from motherboard.scheduler.simulate.mix import Mix, generate
from motherboard.scheduler.simulate.packing import PackingResult, run_packing
from motherboard.scheduler.simulate.trace import TracePod, load_nodes, load_pods


class RayMissingError(RuntimeError):
    """``--ray`` was asked for but Ray is not installed."""


@dataclass(frozen=True)
class Task:
    """One run: everything a worker needs, as plain paths and numbers (cheap to ship to a process)."""

    trace: Path
    nodes: Path
    policy: str
    seed: int
    ratio: float
    limit: int | None = None
    mix: str | None = None
    """A workload mix (``cpu=2.5``; see :mod:`.mix`) generated from the trace with this task's seed."""


_LOADED: dict[tuple[Path, Path, int | None, str | None, int], tuple[list, list]] = {}  # type: ignore[type-arg]
_SPEC_POOL = "openb_pod_list_gpuspec20.csv"


def task_pods(task: Task) -> list[TracePod]:
    """The task's pod list: the trace (its first ``limit`` pods), as the task's mix and seed vary it."""
    pods = load_pods(task.trace)[: task.limit] if task.limit else load_pods(task.trace)
    if task.mix is None:
        return pods
    mix = Mix.parse(task.mix)
    pool_path = task.trace.parent / _SPEC_POOL
    pool = load_pods(pool_path) if mix.spec is not None and pool_path.is_file() else pods
    return generate(pods, mix, task.seed, pool)


def _inputs(task: Task) -> tuple[list, list]:  # type: ignore[type-arg]
    # Each worker parses the files once and reuses them for every task it runs; a mix differs per seed.
    key = (task.trace, task.nodes, task.limit, task.mix, task.seed if task.mix else 0)
    if key not in _LOADED:
        if len(_LOADED) >= 4:  # a mix sweep visits many (mix, seed) lists once each: keep a few
            del _LOADED[next(iter(_LOADED))]
        _LOADED[key] = (
            [node_spec(n) for n in load_nodes(task.nodes)],
            [pod_request(p) for p in task_pods(task)],
        )
    return _LOADED[key]


def run_task(task: Task) -> PackingResult:
    nodes, pods = _inputs(task)
    result = run_packing(nodes, pods, task.policy, task.seed, ratio=task.ratio)
    result.mix = task.mix
    return result


def run_sweep(
    tasks: Sequence[Task],
    *,
    workers: int = 1,
    use_ray: bool = False,
    address: str | None = None,
    on_result: Callable[[PackingResult], None] | None = None,
) -> list[PackingResult]:
    """Run every task; results come back in task order. ``on_result`` is called as each finishes."""
    results: list[PackingResult] = []
    for result in _execute(tasks, workers, use_ray, address):
        results.append(result)
        if on_result is not None:
            on_result(result)
    order = {(t.policy, t.seed, t.mix): i for i, t in enumerate(tasks)}
    return sorted(results, key=lambda r: order[(r.policy, r.seed, r.mix)])


def _execute(
    tasks: Sequence[Task], workers: int, use_ray: bool, address: str | None
) -> Iterator[PackingResult]:
    if use_ray or address:
        yield from _ray(tasks, address)
    elif workers <= 1 or len(tasks) <= 1:
        yield from map(run_task, tasks)
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            yield from pool.imap_unordered(run_task, tasks)


def _ray(tasks: Sequence[Task], address: str | None) -> Iterator[PackingResult]:
    try:
        import ray
    except ImportError:
        raise RayMissingError(
            "--ray/--address need Ray: install the extra with `pip install 'motherboard[ray]'`, "
            "or drop the flag to run on local processes"
        ) from None
    ray.init(address=address, ignore_reinit_error=True)
    remote = ray.remote(run_task)
    pending = [remote.remote(t) for t in tasks]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])
