"""A device plugin process for the fault tests: ``python -m tests.faults.plugin_process SOCKDIR SIM PODS``.

The real plugin (its gRPC servers, registration with the kubelet at ``SOCKDIR/kubelet.sock``, the
allocation map at ``SOCKDIR/state.json``) on the simulated devices of ``SIM``, learning the pods on its node
from ``PODS`` (a JSON list of :class:`~motherboard.deviceplugin.pods.PodInfo` fields, read at every call, so
the test plays the API server's part). It serves until SIGTERM, or until an injected SIGKILL
(``MOTHERBOARD_FAULT_PLUGIN_KILL``, :mod:`motherboard.deviceplugin.faults`).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path

from motherboard.deviceplugin.config import PluginConfig
from motherboard.deviceplugin.plugin import DevicePlugin
from motherboard.deviceplugin.pods import PodInfo
from motherboard.devices.simulated import SimulatedBackend

NODE = "sim-node-0"


class FilePodSource:
    def __init__(self, path: Path) -> None:
        self.path = path

    def pods_on_node(self, node: str) -> list[PodInfo]:
        return [PodInfo(**p) for p in json.loads(self.path.read_text())]


def main(sockdir: Path, sim: Path, pods: Path) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    config = PluginConfig(
        node_name=NODE,
        plugin_dir=sockdir,
        state_file=sockdir / "state.json",
        require_assignment=True,
        publish_node=False,
        metrics_port=0,
    )
    plugin = DevicePlugin(SimulatedBackend(sim), config, FilePodSource(pods), None).start()
    try:
        stop.wait()
    finally:
        plugin.stop()


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]))
