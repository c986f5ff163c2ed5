"""kube-apiserver and etcd SIGKILLed while a burst of gang jobs is being placed, then started again: once the
system settles, every job Succeeded and the invariants hold from the API server's view (no lost or
duplicate pod, no device held twice, no gang partly running). The operator and the scheduler may exit while
the API server is gone (a dead watch takes the process down so that it restarts); here they are restarted
as their Deployments would restart them, and each restart is counted."""

from __future__ import annotations

import time
from pathlib import Path

from motherboard.devcluster.invariants import violations
from tests.conftest import Cluster
from tests.faults.helpers import Operator, create, job_manifest
from tests.faults.test_kills import GANGS, SIZE, listed, operator, queue, scheduler, settled
from tests.integration.test_operator import wait_for
from tests.integration.test_scheduler import SchedulerProcess

__all__ = ["operator", "queue"]  # fixtures this module uses, defined beside the scheduler-kill tests

SETTLE_SECONDS = 300


def test_the_api_server_and_etcd_killed_during_a_burst_lose_nothing(
    cluster: Cluster, operator: Operator, queue: str, tmp_path: Path
) -> None:
    sched: SchedulerProcess = scheduler(tmp_path, cluster, "before-restarts")
    wait_for("the scheduler ready", lambda: sched.probe().startswith("ok"), timeout=60)
    for i in range(GANGS):
        accepted, error = create(cluster, queue, job_manifest(f"burst-{i}", replicas=SIZE, duration="3s"))
        assert accepted, error
    time.sleep(2)  # inside the first binding waves (--qps=5)
    cluster.dev.kill_and_restart("kube-apiserver", down_s=3)
    time.sleep(2)
    cluster.dev.kill_and_restart("etcd", down_s=2)
    restarts = {"scheduler": 0, "operator": 0}
    deadline = time.monotonic() + SETTLE_SECONDS
    try:
        while not settled(cluster, queue):
            assert time.monotonic() < deadline, (
                f"not settled in {SETTLE_SECONDS} s: {listed(cluster, queue)[0]}"
            )
            if sched.proc is not None and sched.proc.poll() is not None:
                restarts["scheduler"] += 1
                sched = scheduler(tmp_path, cluster, f"restart-{restarts['scheduler']}")
            if operator.proc is not None and operator.proc.poll() is not None:
                restarts["operator"] += 1
                operator.start()
            time.sleep(2)
        jobs, pods = listed(cluster, queue)
        assert violations(jobs, pods) == []
        assert {j["status"]["phase"] for j in jobs} == {"Succeeded"}
        assert len(jobs) == GANGS
        print(f"restarts after the control-plane kills: {restarts}")
    finally:
        sched.stop()
