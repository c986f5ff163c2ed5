"""Integration fixtures: one real control plane per test run, one namespace per test.

The session brings a dev cluster up in a private state directory and tears it down at the end, so a run
never disturbs (or depends on) a developer's own cluster. With ``MOTHERBOARD_REUSE_CLUSTER=1`` it uses the
default dev cluster instead, starting it if needed and leaving it running, so repeated runs skip start-up.

Building the binaries happens once, before the first test (see :func:`pytest_collection_finish`), so a cold
build is not charged to one test's timeout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from motherboard.devcluster.build import Binaries, BuildError, ensure_binaries
from motherboard.devcluster.cluster import DevCluster, default_profile
from motherboard.devcluster.fakenodes import api_client
from motherboard.devcluster.profile import ClusterProfile

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the integration tests share tables with tests/unit (e.g. bad manifests)
    sys.path.insert(0, str(REPO))

REUSE_ENV = "MOTHERBOARD_REUSE_CLUSTER"
HTTP_NOT_FOUND = 404
# tests/faults needs the control plane too: it is integration-tier (the markers live in pyproject.toml).
_TIERS = {"integration": pytest.mark.integration, "e2e": pytest.mark.e2e, "faults": pytest.mark.integration}


def _progress(message: str) -> None:
    # Outside pytest's capture: a cold build runs for many minutes and should not look like a hang.
    if ": cached in " not in message:
        print(f"[dev-cluster] {message}", file=sys.__stderr__, flush=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.path)).resolve().relative_to(REPO / "tests").parts[0]
        if tier in _TIERS:
            item.add_marker(_TIERS[tier])


_build_error: list[str] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    if any("cluster" in getattr(item, "fixturenames", ()) for item in session.items):
        try:
            ensure_binaries(_progress)
        except BuildError as exc:  # reported by the fixture, so the tests that need it error and others run
            _build_error.append(str(exc))


@dataclass
class Cluster:
    """The running dev cluster as the tests see it."""

    dev: DevCluster
    kubeconfig: Path
    api: client.ApiClient
    profile: ClusterProfile
    binaries: Binaries

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if _build_error:
        pytest.fail(f"the dev cluster's binaries could not be built: {_build_error[0]}", pytrace=False)
    reuse = os.environ.get(REUSE_ENV) == "1"
    profile = ClusterProfile.load(default_profile())
    dev = DevCluster() if reuse else DevCluster(tmp_path_factory.mktemp("dev-cluster"))
    started = time.monotonic()
    result = dev.up(profile, reuse=reuse, progress=_progress)
    _progress(f"{'reused' if result.reused else 'started'} in {time.monotonic() - started:.1f}s: {dev.dir}")
    api = api_client(dev.kubeconfig)
    try:
        yield Cluster(dev, dev.kubeconfig, api, profile, ensure_binaries())
    finally:
        api.close()
        if not reuse:
            dev.down(progress=_progress)


def wait_for_default_service_account(api: client.ApiClient, namespace: str, timeout_s: float = 60) -> None:
    """Pods are refused until the ServiceAccount admission plugin finds ``default`` in their namespace."""
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            core.read_namespaced_service_account("default", namespace)
            return
        except ApiException as exc:
            if exc.status != HTTP_NOT_FOUND or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test (its default ServiceAccount ready), deleted afterwards."""
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].rstrip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(cluster.api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"e2e": "true"})))
    try:
        wait_for_default_service_account(cluster.api, name)
        yield name
    finally:
        # Not waited for: the namespace controller finishes in the background while other tests run.
        core.delete_namespace(name)
