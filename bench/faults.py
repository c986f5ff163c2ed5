"""Fault suite, long variants: aimed kills during a burst of gang jobs, then the invariants; recovery times.

    python bench/faults.py [--jobs 200] [--kills 8] [--profile profiles/demo.yaml] [--qps 5]
    python bench/faults.py --recovery-only
    python bench/faults.py --jobs 0 --recovery-rounds 0 --failover-rounds 3 [--failover-jobs 40]

Starts a private dev cluster, the real operator (webhook on) and the real scheduler, one Queue, and:

1. **Aimed kills.** Submits ``--jobs`` 4-pod GPU gangs (3 s each) and runs the scheduler with
   ``MOTHERBOARD_FAULT_KILL_AFTER_BINDS=k`` (k drawn at random, so the SIGKILL lands inside a gang's
   binding) ``--kills`` times, waiting a few seconds after each kill (bound members of a half gang run
   alone), with an operator SIGKILL in the middle; then a scheduler without the hook until every job ended.
   Reports kills, invariant checks and the violations (:mod:`motherboard.devcluster.invariants`).
2. **Recovery times** (``--recovery-rounds``): SIGKILL then restart, measured to the first bind of a pod
   waiting meanwhile (scheduler, one replica, no leader election), the same with two replicas and leader
   election (the leader killed, the warm standby takes over), and to the first status write of a job
   created while the operator was down (operator, one replica with its Lease).
3. **Failover under load** (``--failover-rounds``): two replicas with leader election, the leader SIGKILLed
   at a random binding of a burst of ``--failover-jobs`` gangs; the time from the kill to the standby's
   first bind, and the invariants once the burst ended.

Everything it starts is stopped at the end, on SIGTERM too. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from motherboard.api import crdgen
from motherboard.api.v1alpha1 import KINDS
from motherboard.demo.components import Component, free_port
from motherboard.devcluster.build import ensure_binaries
from motherboard.devcluster.cluster import DevCluster
from motherboard.devcluster.fakenodes import api_client
from motherboard.devcluster.invariants import violations
from motherboard.devcluster.profile import ClusterProfile
from motherboard.scheduler.service.api import KILL_AFTER_BINDS_ENV

GROUP, VERSION = "motherboard.io", "v1alpha1"
NAMESPACE = "faults"
SIZE = 4
HTTP_CONFLICT = 409
Obj = dict[str, Any]


def gang(name: str, duration: str = "3s") -> Obj:
    template = {
        "metadata": {"annotations": {"motherboard.io/simulated-duration": duration}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    task = {
        "name": "worker",
        "replicas": SIZE,
        "devices": {"vendor": "nvidia", "count": 1},
        "template": template,
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AIJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"framework": "PyTorch", "tasks": [task]},
    }


class Bench:
    def __init__(self, dev: DevCluster, state: Path, qps: float) -> None:
        self.dev, self.state, self.qps = dev, state, qps
        self.api = api_client(dev.kubeconfig)
        self.core, self.custom = client.CoreV1Api(self.api), client.CustomObjectsApi(self.api)
        self.kubectl = [str(ensure_binaries().kubectl), f"--kubeconfig={dev.kubeconfig}"]
        self.parts: list[Component] = []
        self.serial = 0

    # --- processes ------------------------------------------------------------------------------------------
    def _part(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, health: int = 0
    ) -> Component:
        self.serial += 1
        part = Component(name, argv, self.state / "logs" / f"{name}-{self.serial}.log", {"health": health})
        with mock.patch.dict(os.environ, env or {}):
            part.start()
        self.parts.append(part)
        return part

    def scheduler(self, kill_after: int = 0, leader: bool = False) -> Component:
        health = free_port()
        argv = ["scheduler", "run", f"--kubeconfig={self.dev.kubeconfig}", "--metrics-port=0",
                f"--health-port={health}", f"--qps={self.qps}",
                *(["--leader-elect", "--lease-namespace=kube-system"] if leader else ["--no-leader-elect"])]  # fmt: skip
        env = {KILL_AFTER_BINDS_ENV: str(kill_after)} if kill_after else None
        return self._part("scheduler", argv, env, health)

    def operator(self, leader: bool = True) -> Component:
        argv = ["operator", "run", f"--kubeconfig={self.dev.kubeconfig}", "--metrics-port=0",
                f"--health-port={free_port()}", f"--webhook-port={free_port()}",
                "--lease-duration=4" if leader else "--no-leader-elect"]  # fmt: skip
        return self._part("operator", argv)

    def stop_all(self) -> None:
        for part in reversed(self.parts):
            part.stop()

    # --- cluster views --------------------------------------------------------------------------------------
    def jobs(self) -> list[Obj]:
        return list(self.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "aijobs")["items"])

    def pods(self) -> list[Obj]:
        raw = self.core.list_namespaced_pod(NAMESPACE, _preload_content=False)
        return list(json.loads(raw.data)["items"])

    def bound(self) -> set[str]:
        return {p["metadata"]["uid"] for p in self.pods() if (p.get("spec") or {}).get("nodeName")}

    def submit(self, name: str) -> None:
        while True:  # the webhook may be between operators: fail-closed, so retry until admitted
            try:
                self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "aijobs", gang(name))
                return
            except ApiException as exc:
                if exc.status == HTTP_CONFLICT:  # AlreadyExists: an earlier try went through
                    return
            time.sleep(0.5)

    def submit_all(self, names: list[str]) -> None:
        for name in names:
            self.submit(name)

    def cleanup_jobs(self) -> None:
        subprocess.run([*self.kubectl, "delete", "aijobs", "--all", "-n", NAMESPACE, "--wait=true"],
                       capture_output=True, check=False, timeout=300)  # fmt: skip
        wait_until(lambda: not self.pods(), 300)


def readyz(part: Component) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{part.ports['health']}/readyz", timeout=2) as answer:
            return str(answer.read().decode())
    except OSError:
        return ""


def wait_until(check: Callable[[], object], timeout: float, poll: float = 0.2) -> float:
    """Seconds until ``check()`` holds (raises after ``timeout``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout} s")
        time.sleep(poll)
    return time.monotonic() - started


def aimed_kills(bench: Bench, jobs: int, kills: int, seed: int, settle_timeout: float = 1800) -> Obj:
    rng = random.Random(seed)
    operator = bench.operator()
    wait_until(lambda: subprocess.run([*bench.kubectl, "get", "validatingwebhookconfiguration", GROUP],
                                      capture_output=True, check=False).returncode == 0, 90)  # fmt: skip
    time.sleep(3)
    for i in range(jobs):
        bench.submit(f"gang-{i:04d}")
    started, done_kills, half_left = time.monotonic(), 0, 0
    operator_killed = False
    while done_kills < kills:
        before = len(bench.bound())
        proc = bench.scheduler(kill_after=rng.randint(1, SIZE * 6))
        try:
            wait_until(lambda p=proc: not p.alive(), 120)
        except TimeoutError:  # nothing left to bind: the wave ended before k bindings
            proc.stop()
            break
        done_kills += 1
        bound = [p for p in bench.pods() if (p.get("spec") or {}).get("nodeName")]
        by_attempt: dict[str, int] = {}
        for pod in bound:
            labels = pod["metadata"].get("labels") or {}
            key = f"{labels.get('motherboard.io/job-name')}@{labels.get('motherboard.io/attempt')}"
            by_attempt[key] = by_attempt.get(key, 0) + 1
        half_left += sum(1 for n in by_attempt.values() if n % SIZE)
        print(f"kill {done_kills}: {len(bound) - before:+d} bound", file=sys.stderr)
        if not operator_killed and done_kills >= kills // 2:
            operator.stop(sig=signal.SIGKILL)  # the operator too, mid-burst
            operator, operator_killed = bench.operator(), True
        time.sleep(rng.uniform(1.0, 5.0))  # half gangs' bound members run alone meanwhile
    final = bench.scheduler()
    settled_in: float | None = None
    try:  # on a timeout the run still reports where every job stands and the invariants
        settled_in = wait_until(
            lambda: all(
                (j.get("status") or {}).get("phase") in ("Succeeded", "Failed") for j in bench.jobs()
            ),
            settle_timeout,
            poll=2.0,
        )
    except TimeoutError:
        print(f"not settled within {settle_timeout} s", file=sys.stderr)
    jobs_seen, pods_seen = bench.jobs(), bench.pods()
    found = violations(jobs_seen, pods_seen)
    final.stop()
    operator.stop()
    phases: dict[str, int] = {}
    for job in jobs_seen:
        phase = (job.get("status") or {}).get("phase", "?")
        phases[phase] = phases.get(phase, 0) + 1
    return {
        "jobs": jobs,
        "scheduler_kills": done_kills,
        "operator_kills": int(operator_killed),
        "half_gangs_left_by_kills": half_left,
        "seconds": round(time.monotonic() - started, 1),
        "settle_after_last_restart_s": None if settled_in is None else round(settled_in, 1),
        "settle_timeout_s": settle_timeout,
        "phases": phases,
        "invariant_checks": len(jobs_seen) + len(pods_seen),
        "violations": found,
    }


def failover_under_load(bench: Bench, jobs: int, rounds: int, seed: int) -> Obj:
    """Two replicas with leader election; the leader SIGKILLed at a random binding of a burst of gangs.

    Measured: from the kill to the first bind by the standby (bindings the dead leader had sent still land
    for a moment, so only binds after the standby reports itself leader count), and the invariants once
    every job ended."""
    rng = random.Random(seed)
    operator = bench.operator()
    time.sleep(8)
    first_binds: list[float] = []
    found: list[str] = []
    checked = 0
    for r in range(rounds):
        leader = bench.scheduler(kill_after=rng.randint(SIZE + 1, SIZE * 8), leader=True)
        wait_until(lambda p=leader: readyz(p) == "ok (leader)\n", 60)
        standby = bench.scheduler(leader=True)
        wait_until(lambda p=standby: readyz(p) == "ok (standby)\n", 60)
        names = [f"failover-{r}-{i:03d}" for i in range(jobs)]
        submitter = threading.Thread(target=bench.submit_all, args=(names,), daemon=True)
        submitter.start()  # the kill lands during the burst; its moment is taken here, not after submitting
        wait_until(lambda p=leader: not p.alive(), 300, poll=0.05)
        killed = time.monotonic()
        wait_until(lambda p=standby: readyz(p) == "ok (leader)\n", 60, poll=0.05)
        at_takeover = len(bench.bound())
        wait_until(lambda n=at_takeover: len(bench.bound()) > n, 120, poll=0.05)
        first_binds.append(time.monotonic() - killed)
        submitter.join()
        print(
            f"failover {r}: first bind by the standby {first_binds[-1]:.1f} s after the kill", file=sys.stderr
        )
        wait_until(
            lambda: all(
                (j.get("status") or {}).get("phase") in ("Succeeded", "Failed") for j in bench.jobs()
            ),
            1800,
            poll=2.0,
        )
        jobs_seen, pods_seen = bench.jobs(), bench.pods()
        checked += len(jobs_seen) + len(pods_seen)
        found += violations(jobs_seen, pods_seen)
        standby.stop()
        bench.cleanup_jobs()
    operator.stop()
    return {
        "jobs_per_round": jobs,
        "kill_to_first_bind_by_standby_s": [round(v, 2) for v in first_binds],
        "median_s": round(statistics.median(first_binds), 2),
        "invariant_checks": checked,
        "violations": found,
    }


def recovery(bench: Bench, rounds: int) -> Obj:
    """SIGKILL → first bind / first status write, ``rounds`` times each."""
    single: list[float] = []
    failover: list[float] = []
    operator_first: list[float] = []
    operator_single: list[float] = []
    operator = bench.operator()
    time.sleep(8)
    for r in range(rounds):
        # Scheduler, one replica: kill it, a job arrives meanwhile; from the restart to that job's first bind.
        first = bench.scheduler()
        wait_until(lambda p=first: readyz(p).startswith("ok"), 60)
        first.stop(sig=signal.SIGKILL)
        bench.submit(f"single-{r}")
        wait_until(lambda: len(bench.pods()) == SIZE, 60)  # the operator made its pods
        restarted = time.monotonic()
        second = bench.scheduler()
        wait_until(bench.bound, 120, poll=0.05)
        single.append(time.monotonic() - restarted)
        second.stop()
        bench.cleanup_jobs()
        # Two replicas with leader election: kill the leader; a job arrives; the warm standby binds it.
        leader = bench.scheduler(leader=True)
        wait_until(lambda p=leader: readyz(p) == "ok (leader)\n", 60)
        standby = bench.scheduler(leader=True)
        wait_until(lambda p=standby: readyz(p) == "ok (standby)\n", 60)
        leader.stop(sig=signal.SIGKILL)
        killed = time.monotonic()
        bench.submit(f"failover-{r}")
        wait_until(bench.bound, 120, poll=0.05)
        failover.append(time.monotonic() - killed)
        standby.stop()
        bench.cleanup_jobs()
        # Operator: SIGKILL, restart; a job created as soon as the webhook takes it (it fails closed while
        # no operator serves); from the restart to that job's first status write. With its Lease (4 s here;
        # the restarted process waits for its predecessor's to expire) and without.
        for leader, times in ((True, operator_first), (False, operator_single)):
            operator.stop(sig=signal.SIGKILL)
            restarted = time.monotonic()
            operator = bench.operator(leader)
            bench.submit(f"operator-{r}-{int(leader)}")
            wait_until(
                lambda: any((j.get("status") or {}).get("phase") for j in bench.jobs()), 120, poll=0.05
            )
            times.append(time.monotonic() - restarted)
            bench.cleanup_jobs()
    operator.stop()

    def summary(values: list[float]) -> Obj:
        return {"runs": [round(v, 2) for v in values], "median_s": round(statistics.median(values), 2)}

    return {
        "scheduler_single_replica_restart_to_first_bind": summary(single),
        "scheduler_two_replicas_kill_to_first_bind_by_standby": summary(failover),
        "operator_with_lease_restart_to_first_status_write": summary(operator_first),
        "operator_no_leader_election_restart_to_first_status_write": summary(operator_single),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--qps", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--recovery-rounds", type=int, default=3)
    parser.add_argument("--recovery-only", action="store_true")
    parser.add_argument("--settle-timeout", type=float, default=1800, help="seconds the jobs get to end")
    parser.add_argument("--failover-rounds", type=int, default=0, help="leader SIGKILLed during a burst")
    parser.add_argument("--failover-jobs", type=int, default=40, help="gangs in each failover burst")
    parser.add_argument("--profile", type=Path, default=Path("profiles/demo.yaml"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the cluster in the finally below
    state = Path(tempfile.mkdtemp(prefix="mb-faults-bench-"))
    dev = DevCluster(state)
    dev.up(ClusterProfile.load(args.profile), progress=lambda m: print(f"[cluster] {m}", file=sys.stderr))
    bench = Bench(dev, state, args.qps)
    try:
        subprocess.run([*bench.kubectl, "apply", "--server-side", "-f", "-"], check=True, text=True,
                       input="---\n".join(crdgen.render(k) for k in KINDS), capture_output=True)  # fmt: skip
        subprocess.run([*bench.kubectl, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"],
                       check=True, capture_output=True)  # fmt: skip
        bench.core.create_namespace({"metadata": {"name": NAMESPACE}})
        queue = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Queue", "metadata": {"name": NAMESPACE},
                 "spec": {"namespaces": [NAMESPACE], "quotas": [{"resource": "nvidia.com/gpu", "nominal": 1000}]}}  # fmt: skip
        bench.custom.create_cluster_custom_object(GROUP, VERSION, "queues", queue)
        wait_until(lambda: bench.core.list_namespaced_service_account(NAMESPACE).items, 60)
        result: Obj = {"qps": args.qps, "profile": str(args.profile)}
        if not args.recovery_only and args.jobs:
            result["aimed_kills"] = aimed_kills(bench, args.jobs, args.kills, args.seed, args.settle_timeout)
            bench.stop_all()
            bench.cleanup_jobs()
        if args.failover_rounds:
            result["failover_under_load"] = failover_under_load(
                bench, args.failover_jobs, args.failover_rounds, args.seed
            )
            bench.stop_all()
        if args.recovery_rounds:
            result["recovery"] = recovery(bench, args.recovery_rounds)
        print(json.dumps(result, indent=2))
    finally:
        bench.stop_all()
        dev.down()


if __name__ == "__main__":
    main()
