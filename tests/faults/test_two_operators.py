"""Two operators on one host make and serve their own webhook certificates.

The certificate directory was one fixed path that every operator rewrote at start: a second operator on the
same host (a test run beside a demo, two dev clusters) replaced the first one's CA and leaf between its
writing and loading them, so one served a leaf its published CA did not sign. Now each process makes a
fresh private directory under its temporary directory and removes it on stop.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import Cluster
from tests.faults.helpers import Operator, remove_webhook_configurations
from tests.integration.test_operator import install_crds, wait_for


def served_leaf(port: int) -> bytes | None:
    """The DER certificate the webhook port presents (None while it does not serve TLS yet)."""
    try:
        return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port), timeout=3))
    except OSError:
        return None


def leaf_on_disk(directory: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert((directory / "tls.crt").read_text())


def verifies(ca: Path, leaf: Path) -> bool:
    result = subprocess.run(
        ["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(ca), str(leaf)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


@pytest.fixture
def two_operators(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[tuple[Path, list[Operator]]]:
    """Two operators sharing one TMPDIR, as two processes on one host do, each leading its own Lease."""
    install_crds(cluster)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    operators = [
        Operator(
            cluster,
            tmp_path / f"operator-{i}.log",
            f"--namespace={namespace}",
            f"--lease-namespace={leases}",
            lease_seconds=4,
        )
        for i, leases in enumerate(("kube-system", namespace))
    ]
    with mock.patch.dict(os.environ, {"TMPDIR": str(tmpdir)}):
        for operator in operators:
            operator.start()
    try:
        yield tmpdir, operators
    finally:
        for operator in operators:
            operator.stop()
        remove_webhook_configurations(cluster)
        for i, operator in enumerate(operators):
            print(f"--- operator {i}\n{operator.tail(30)}")


def test_two_operators_on_one_host_use_separate_certificate_directories(
    two_operators: tuple[Path, list[Operator]],
) -> None:
    tmpdir, operators = two_operators
    leaves = [
        wait_for(f"operator {i}'s webhook serving TLS", lambda o=o: served_leaf(o.ports["webhook"]), 120)
        for i, o in enumerate(operators)
    ]
    assert leaves[0] != leaves[1], "both operators serve the same leaf certificate"
    directories = sorted(p for p in tmpdir.iterdir() if p.name.startswith("motherboard-webhook-"))
    assert len(directories) == 2, f"expected one certificate directory per operator: {directories}"
    for directory in directories:
        assert directory.stat().st_mode & 0o077 == 0, f"{directory} is readable by others"
    on_disk = {leaf_on_disk(d): d for d in directories}
    # Each operator serves the leaf of a directory of its own, signed by that directory's CA alone.
    owned = [on_disk[leaf] for leaf in leaves]
    assert owned[0] != owned[1]
    for mine, theirs in (owned, owned[::-1]):
        assert verifies(mine / "ca.crt", mine / "tls.crt")
        assert not verifies(theirs / "ca.crt", mine / "tls.crt"), "one CA signed both operators' leaves"
    # An orderly stop removes each operator's directory (restarts would pile them up otherwise).
    for operator in operators:
        operator.stop()
    assert not any(p.exists() for p in directories), sorted(str(p) for p in tmpdir.iterdir())
