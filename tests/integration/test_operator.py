"""The operator against the real control plane: AIJob → pods → bound → Running → Succeeded, and back.

The scheduler is played by the test (it binds pods with the Binding API and sets PodScheduled / the
preemption condition), so the operator is tested on its own; kwok runs and completes the pods.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from motherboard.demo.components import WEBHOOK_PROBE, Component, free_port, webhook_checks
from tests.conftest import Cluster
from tests.unit.api.bad_manifests import BAD_MANIFESTS

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION = "motherboard.io", "v1alpha1"


def install_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


class OperatorProcess(Component):
    """The real operator process (``motherboard operator run``), restartable and killable."""

    LEASE_SECONDS = 4  # short, so a SIGKILLed leader's successor takes over within seconds

    def __init__(self, kubeconfig: Path, log: Path, webhook_port: int) -> None:
        argv = [
            "operator", "run", f"--kubeconfig={kubeconfig}", "--metrics-port=0", "--health-port=0",
            f"--webhook-port={webhook_port}", f"--lease-duration={self.LEASE_SECONDS}",
        ]  # fmt: skip
        super().__init__("operator", argv, log, {"webhook": webhook_port})
        self.kubeconfig, self.webhook_port = kubeconfig, webhook_port

    @property
    def identity(self) -> str:
        assert self.proc is not None
        return f"{socket.gethostname()}_{self.proc.pid}"


@pytest.fixture(scope="module")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    install_crds(cluster)
    proc = OperatorProcess(
        cluster.kubeconfig, tmp_path_factory.mktemp("operator") / "operator.log", free_port()
    )
    proc.start()
    try:
        wait_for("the webhook", lambda: webhook_serving(cluster) and has_webhooks(cluster), timeout=60)
        yield proc
    finally:
        proc.stop()
        # The webhook's configuration outlives the process; without its server every AIJob write would fail.
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            cluster.kubectl("delete", kind, GROUP, "--ignore-not-found", check=False)
        print(proc.log.read_text()[-4000:])


def has_webhooks(cluster: Cluster) -> bool:
    found = cluster.kubectl("get", "validatingwebhookconfiguration", GROUP, "-o", "json", check=False)
    return found.returncode == 0 and bool(json.loads(found.stdout).get("webhooks"))


def webhook_serving(cluster: Cluster) -> bool:
    """Whether the API server calls the webhook and it answers: a server-side dry run of a probe only the
    webhook refuses (a valid probe also passed against an empty configuration)."""
    result = cluster.kubectl("create", "--dry-run=server", "-f", "-", check=False, stdin=WEBHOOK_PROBE)
    return webhook_checks(result.returncode, result.stderr)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def delete_queue(custom: client.CustomObjectsApi, name: str, namespace: str | None = None) -> None:
    """Delete a Queue at the end of a test: first the AIJobs of ``namespace`` (the webhook refuses to delete
    a queue whose admitted jobs hold its quota), then the queue, retried until the webhook has seen them go."""
    if namespace is not None:
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, "aijobs")

    def deleted() -> bool:
        try:
            custom.delete_cluster_custom_object(GROUP, VERSION, "queues", name)
        except client.ApiException as exc:
            if exc.status == 404:  # already gone
                return True
            if exc.status != 422:  # anything but "refused for now: jobs still hold it"
                raise
            return False
        return True

    wait_for(f"queue {name} deleted", deleted, timeout=60)


def make_job(
    name: str, replicas: int = 2, duration: str = "3s", exit_as: str = "Succeeded", **spec: Any
) -> dict[str, Any]:
    template = {
        "metadata": {
            "annotations": {
                "motherboard.io/simulated-duration": duration,
                "motherboard.io/simulated-exit": exit_as,
            }
        },
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AIJob",
        "metadata": {"name": name},
        "spec": {
            "framework": "PyTorch",
            "tasks": [
                {
                    "name": "worker",
                    "replicas": replicas,
                    "devices": {"vendor": "nvidia", "count": 1},
                    "template": template,
                }
            ],
            **spec,
        },
    }


class Api:
    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.ns, self.cluster = namespace, cluster
        self.custom = client.CustomObjectsApi(cluster.api)
        self.core = client.CoreV1Api(cluster.api)
        self.node = next(
            n["metadata"]["name"] for n in self.nodes() if "gpu" in str(n["metadata"].get("labels"))
        )

    def nodes(self) -> list[dict[str, Any]]:
        return [n.to_dict() for n in self.core.list_node().items]

    def create(self, job: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, "aijobs", job)

    def job(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, "aijobs", name)

    def patch_job(self, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, "aijobs", name, patch)

    def phase(self, name: str) -> str | None:
        return (self.job(name).get("status") or {}).get("phase")

    def pods(self, job: str) -> list[client.V1Pod]:
        return self.core.list_namespaced_pod(self.ns, label_selector=f"motherboard.io/job-name={job}").items

    def bind_all(self, job: str) -> int:
        """Play the scheduler: bind every unbound, live pod of the job to one kwok node."""
        bound = 0
        for pod in self.pods(job):
            if pod.spec.node_name or pod.metadata.deletion_timestamp:
                continue
            body = client.V1Binding(
                metadata=client.V1ObjectMeta(name=pod.metadata.name),
                target=client.V1ObjectReference(kind="Node", name=self.node),
            )
            self.core.create_namespaced_binding(self.ns, body, _preload_content=False)
            bound += 1
        return bound

    def events(self, name: str) -> list[str]:
        items = self.core.list_namespaced_event(self.ns, field_selector=f"involvedObject.name={name}").items
        return [e.reason for e in items]


@pytest.fixture
def api(cluster: Cluster, namespace: str, operator: OperatorProcess) -> Iterator[Api]:
    """The test's namespace with a queue of its own (named like the namespace) that serves it."""
    api = Api(cluster, namespace)
    queue = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Queue",
        "metadata": {"name": namespace},
        "spec": {"namespaces": [namespace], "quotas": [{"resource": "nvidia.com/gpu", "nominal": 64}]},
    }
    api.custom.create_cluster_custom_object(GROUP, VERSION, "queues", queue)

    def defaulted() -> bool:
        # The webhook learns of the new queue from its watch; a dry run shows when it has.
        probe = cluster.kubectl(
            "create",
            "--dry-run=server",
            "-o",
            "json",
            "-n",
            namespace,
            "-f",
            "-",
            check=False,
            stdin=json.dumps(make_job("probe", 1)),
        )
        return probe.returncode == 0 and json.loads(probe.stdout)["spec"].get("queue") == namespace

    try:
        wait_for("the webhook to know the namespace's queue", defaulted, timeout=30)
        yield api
    finally:
        delete_queue(api.custom, namespace, namespace)


def test_job_runs_to_success_with_pods_env_status_and_events(api: Api) -> None:
    api.create(make_job("train", replicas=2, duration="2s"))
    pods = wait_for("2 pods", lambda: len(api.pods("train")) == 2 and api.pods("train"))
    env = {e.name: e.value for e in pods[0].spec.containers[0].env}
    assert env["WORLD_SIZE"] == "2" and env["MASTER_ADDR"] == "train-worker-0.train"
    assert pods[0].spec.scheduler_name == "motherboard-scheduler"
    assert pods[0].spec.containers[0].resources.limits == {"nvidia.com/gpu": "1"}
    assert pods[0].metadata.owner_references[0].kind == "AIJob"
    assert api.job("train")["spec"]["queue"] == api.ns, "the webhook defaults the queue from the namespace"
    assert wait_for("Queued", lambda: api.phase("train") == "Queued")
    api.bind_all("train")
    wait_for("Succeeded", lambda: api.phase("train") == "Succeeded", timeout=60)
    status = api.job("train")["status"]
    assert status["tasks"][0]["succeeded"] == 2
    assert {c["type"]: c["status"] for c in status["conditions"]}["Succeeded"] == "True"
    assert status["observedGeneration"] == api.job("train")["metadata"]["generation"]
    assert {p["node"] for p in status["placement"]} == {api.node}
    reasons = wait_for(
        "events", lambda: {"Completed", "Queued"} <= set(api.events("train")) and api.events("train")
    )
    assert "Completed" in reasons


def test_failing_pods_restart_the_gang_then_fail_after_backoff_limit(api: Api) -> None:
    api.create(make_job("flaky", replicas=2, duration="1s", exit_as="Failed", runPolicy={"backoffLimit": 1}))

    def bound_and_failed() -> bool:
        api.bind_all("flaky")
        return api.phase("flaky") == "Failed"

    wait_for("Failed after restarts", bound_and_failed, timeout=90)
    status = api.job("flaky")["status"]
    assert status["reason"] == "BackoffLimitExceeded" and status["restarts"] == 1
    assert "GangRestart" in api.events("flaky")


def test_suspend_releases_pods_and_resume_recreates_them(api: Api) -> None:
    api.create(make_job("paused", replicas=2, duration="600s"))
    wait_for("pods", lambda: len(api.pods("paused")) == 2)
    api.bind_all("paused")
    wait_for("Running", lambda: api.phase("paused") == "Running")
    api.patch_job("paused", {"spec": {"runPolicy": {"suspend": True}}})
    wait_for("Suspended", lambda: api.phase("paused") == "Suspended")
    wait_for("pods gone", lambda: not [p for p in api.pods("paused") if not p.metadata.deletion_timestamp])
    api.patch_job("paused", {"spec": {"runPolicy": {"suspend": False}}})
    wait_for(
        "recreated", lambda: len([p for p in api.pods("paused") if not p.metadata.deletion_timestamp]) == 2
    )


def test_deleting_a_job_removes_its_pods(api: Api) -> None:
    api.create(make_job("doomed", replicas=2, duration="600s"))
    wait_for("pods", lambda: len(api.pods("doomed")) == 2)
    api.custom.delete_namespaced_custom_object(GROUP, VERSION, api.ns, "aijobs", "doomed")
    wait_for("pods garbage-collected", lambda: not api.pods("doomed"), timeout=60)


def test_killing_the_operator_mid_reconcile_loses_nothing_and_duplicates_nothing(
    api: Api, operator: OperatorProcess
) -> None:
    for i in range(5):
        api.create(make_job(f"burst-{i}", replicas=3, duration="600s"))
    time.sleep(0.5)
    operator.stop(sig=signal.SIGKILL)
    operator.start()
    wait_for("the restarted webhook", lambda: webhook_serving(api.cluster), timeout=60)
    for i in range(5):
        wait_for(f"burst-{i} pods", lambda i=i: len(api.pods(f"burst-{i}")) == 3, timeout=60)
        wait_for(f"burst-{i} queued", lambda i=i: api.phase(f"burst-{i}") == "Queued")
    names = [p.metadata.name for i in range(5) for p in api.pods(f"burst-{i}")]
    assert len(names) == len(set(names)) == 15


def lease_holder(cluster: Cluster) -> str:
    lease = cluster.kubectl("get", "lease", "-n", "kube-system", "motherboard-operator", "-o", "json")
    return str(json.loads(lease.stdout)["spec"].get("holderIdentity") or "")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_two_operators_one_leads_and_the_standby_takes_over_when_it_stops(
    api: Api, operator: OperatorProcess, tmp_path: Path
) -> None:
    standby = OperatorProcess(api.cluster.kubeconfig, tmp_path / "standby.log", free_port())
    standby.start()
    try:
        time.sleep(2 * OperatorProcess.LEASE_SECONDS)  # long enough to steal an unrenewed Lease
        assert lease_holder(api.cluster) == operator.identity
        assert not listening(standby.webhook_port), "a standby must not serve the webhook"
        api.create(make_job("before", replicas=2, duration="600s"))
        wait_for("pods of the leader", lambda: len(api.pods("before")) == 2)
        operator.stop()  # SIGTERM: the leader releases the Lease
        wait_for("the standby leads", lambda: lease_holder(api.cluster) == standby.identity, timeout=30)
        wait_for("the new leader's webhook", lambda: webhook_serving(api.cluster), timeout=60)
        api.create(make_job("after", replicas=3, duration="600s"))
        wait_for("pods of the new leader", lambda: len(api.pods("after")) == 3, timeout=60)
        assert len(api.pods("before")) == 2  # nothing recreated or duplicated by the takeover
        operator.start()  # back as the standby, then the leader again once the other stops
    finally:
        standby.stop()
        print(standby.log.read_text()[-3000:])
    wait_for("the first operator leads again", lambda: lease_holder(api.cluster) == operator.identity, 30)
    wait_for("its webhook", lambda: webhook_serving(api.cluster), timeout=60)


def rejected(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> str:
    """Create ``manifest`` for real; return the server's error (the test fails if it was accepted)."""
    result = cluster.kubectl("create", "-n", namespace, "-f", "-", check=False, stdin=json.dumps(manifest))
    assert result.returncode != 0, f"accepted: {result.stdout}"
    return result.stderr


@pytest.mark.parametrize("case", BAD_MANIFESTS, ids=lambda case: case.name)
def test_the_api_server_with_the_webhook_rejects_every_bad_manifest_naming_the_field(
    cluster: Cluster, api: Api, case: Any
) -> None:
    manifest = json.loads(json.dumps(case.manifest))
    if manifest["kind"] == "AIJob":
        manifest["metadata"]["namespace"] = api.ns
    else:
        manifest["metadata"]["name"] = f"bad-{api.ns}"[:63]
    error = rejected(cluster, api.ns, manifest)
    assert case.field in error, error


def test_the_webhook_rejects_what_only_the_cluster_reveals(cluster: Cluster, api: Api) -> None:
    ns = api.ns
    pool = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DevicePool",
        "metadata": {"name": f"mig-{ns}"},
        "spec": {"vendor": "nvidia", "sharing": {"mode": "MIG", "migProfiles": ["3g.40gb"]}},
    }
    api.custom.create_cluster_custom_object(GROUP, VERSION, "devicepools", pool)
    other = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Queue",
        "metadata": {"name": f"other-{ns}"},
        "spec": {"quotas": [{"resource": "nvidia.com/gpu", "nominal": 4}]},
    }
    api.custom.create_cluster_custom_object(GROUP, VERSION, "queues", other)
    try:
        wait_for(
            "the webhook sees the pool",
            lambda: (
                "not Whole"
                in rejected(
                    cluster,
                    ns,
                    make_job("w", 1, tasks=[task_with({"pool": f"mig-{ns}", "vendor": "nvidia"})]),
                )
            ),
        )
        cases = {
            "spec.queue: queue 'ghost' does not exist": make_job("a", 1, queue="ghost"),
            f"does not serve namespace '{ns}'": make_job("b", 1, queue=f"other-{ns}"),
            "devices.pool: DevicePool 'nope' does not exist": make_job(
                "c", 1, tasks=[task_with({"pool": "nope", "vendor": "nvidia"})]
            ),
            "does not offer 1g.10gb": make_job(
                "d",
                1,
                tasks=[task_with({"pool": f"mig-{ns}", "sharing": {"mode": "MIG", "migProfile": "1g.10gb"}})],
            ),
            "no node could ever provide 64 x nvidia H100-80GB": make_job(
                "e", 1, tasks=[task_with({"vendor": "nvidia", "model": "H100-80GB", "count": 64})]
            ),
            "no node in site(s) nowhere": make_job("f", 1, placement={"requiredSites": ["nowhere"]}),
        }
        for complaint, manifest in cases.items():
            assert complaint in rejected(cluster, ns, manifest)
        child = {
            **other,
            "metadata": {"name": f"child-{ns}"},
            "spec": {"parent": f"other-{ns}", "quotas": [{"resource": "nvidia.com/gpu", "nominal": 8}]},
        }
        assert "more than its nominal 4" in rejected(cluster, ns, child)
        orphan = {**other, "metadata": {"name": f"orphan-{ns}"}, "spec": {"parent": "ghost"}}
        assert "spec.parent: queue 'ghost' does not exist" in rejected(cluster, ns, orphan)
        child["spec"]["quotas"][0]["nominal"] = 2
        api.custom.create_cluster_custom_object(GROUP, VERSION, "queues", child)
        loop = {
            **other,
            "spec": {"parent": f"child-{ns}", "quotas": [{"resource": "nvidia.com/gpu", "nominal": 4}]},
        }
        result = cluster.kubectl("apply", "-f", "-", check=False, stdin=json.dumps(loop))
        assert result.returncode != 0 and "cycle" in result.stderr, result.stderr
        api.custom.delete_cluster_custom_object(GROUP, VERSION, "queues", f"child-{ns}")
    finally:
        api.custom.delete_cluster_custom_object(GROUP, VERSION, "devicepools", f"mig-{ns}")
        api.custom.delete_cluster_custom_object(GROUP, VERSION, "queues", f"other-{ns}")


def task_with(devices: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "worker",
        "replicas": 1,
        "devices": devices,
        "template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}},
    }
