"""kube-proxy's command line for the real node (running it needs root: ``tests/integration/test_real_node.py``)."""

from __future__ import annotations

from pathlib import Path

from motherboard.devcluster import realnode


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in argv[1:])


def test_kube_proxy_serves_the_real_node_and_the_pod_subnet_on_its_own_ports() -> None:
    argv = realnode.kube_proxy_argv(
        Path("/bin/kube-proxy"), Path("/kc"), "realnode-0", {"kube-proxy": 4101, "kube-proxy-metrics": 4102}
    )
    flags = _flags(argv)
    assert argv[0] == "/bin/kube-proxy" and flags["kubeconfig"] == "/kc"
    assert flags["hostname-override"] == "realnode-0" and flags["proxy-mode"] == "iptables"
    assert flags["cluster-cidr"] == realnode.POD_SUBNET
    # Loopback ports of the cluster's own, not the defaults 10256/10249 another kube-proxy may hold.
    assert flags["healthz-bind-address"] == "127.0.0.1:4101"
    assert flags["metrics-bind-address"] == "127.0.0.1:4102"


def test_kube_proxy_changes_no_host_setting_that_down_would_have_to_restore() -> None:
    flags = _flags(
        realnode.kube_proxy_argv(Path("/k"), Path("/kc"), "n", {"kube-proxy": 1, "kube-proxy-metrics": 2})
    )
    # 0: leave nf_conntrack_max and the TCP timeouts as they are (no sysctl writes).
    assert flags["conntrack-max-per-core"] == "0"
    assert flags["conntrack-tcp-timeout-established"] == "0s"
    assert flags["conntrack-tcp-timeout-close-wait"] == "0s"
    # NodePorts on the node IP only: no route_localnet=1 on every interface for localhost NodePorts.
    assert flags["nodeport-addresses"] == "primary" and flags["iptables-localhost-nodeports"] == "false"


def test_without_a_snapshot_no_kube_chain_counts_as_left_over() -> None:
    # A record written before the host network was set up has no snapshot: nothing of ours can be there.
    assert realnode._new_kube_chains({}) == []
