"""The device plugin process: one backend, one server per resource, a health thread and a kubelet watcher.

Start, as a story:

1. discover the devices and turn them into units per resource (:mod:`.resources`);
2. load the allocation map and start one gRPC server per resource;
3. publish the node's labels and inventory annotation;
4. watch health (backend iterator → inventory → streams, metrics, node annotation);
5. watch the kubelet socket and (re-)register every server.

``stop()`` undoes all of it and joins every thread, so tests leave nothing running.
"""

from __future__ import annotations

import logging
import threading

from motherboard.deviceplugin import metrics
from motherboard.deviceplugin.allocator import Allocator
from motherboard.deviceplugin.config import PluginConfig
from motherboard.deviceplugin.inventory import LiveInventory
from motherboard.deviceplugin.kubelet import KubeletWatcher
from motherboard.deviceplugin.node import NodePublisher, node_metadata
from motherboard.deviceplugin.pods import PodSource, StaticPodSource
from motherboard.deviceplugin.server import ResourceServer
from motherboard.deviceplugin.service import DevicePluginService
from motherboard.deviceplugin.state import AllocationStore
from motherboard.devices.backend import DeviceBackend, HealthEvent

log = logging.getLogger(__name__)

HEALTH_RETRY_SECONDS = 5.0
"""Pause before restarting a health watcher that failed (a vendor tool crash is not a device failure)."""


class DevicePlugin:
    """Everything one node's plugin process runs; use as a context manager or call start/stop."""

    def __init__(
        self,
        backend: DeviceBackend,
        config: PluginConfig,
        pods: PodSource | None = None,
        publisher: NodePublisher | None = None,
    ) -> None:
        self.backend, self.config = backend, config
        self._pods = pods or StaticPodSource()
        self._publisher = publisher
        self._stop = threading.Event()
        self._health_thread = threading.Thread(target=self._watch_health, name="health", daemon=True)
        self.inventory = LiveInventory([])
        self.store = AllocationStore(config.state_file)
        self.servers: list[ResourceServer] = []
        self.watcher: KubeletWatcher | None = None
        self._driver = ""

    def start(self) -> DevicePlugin:
        # 1. devices → units
        self.inventory = LiveInventory(self.backend.discover())
        self._driver = self.backend.driver_version()
        allocator = Allocator(
            self.backend,
            self.inventory,
            self.config.node_name,
            self._pods,
            self.store,
            require_assignment=self.config.require_assignment,
            cdi=self.config.cdi,
        )
        # 2. servers
        self.config.plugin_dir.mkdir(parents=True, exist_ok=True)
        for resource in self.inventory.resources:
            service = DevicePluginService(resource, self.inventory, allocator, self._stop)
            self.servers.append(ResourceServer(service, self.config.plugin_dir, self.config.workers))
        for server in self.servers:
            server.start()
        # 3. node
        metrics.observe_units(self.inventory.all_units())
        self._publish()
        # 4. health, 5. kubelet
        self._health_thread.start()
        self.watcher = KubeletWatcher(self.servers, self.config.kubelet_socket_path, self._stop)
        self.watcher.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.inventory.close()
        if self.watcher is not None:
            self.watcher.join()
        if self._health_thread.is_alive():
            self._health_thread.join(timeout=5.0)
        for server in self.servers:
            server.stop()

    def __enter__(self) -> DevicePlugin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def apply(self, event: HealthEvent) -> None:
        """Apply one health change: streams first (the kubelet must stop using the device), then the rest."""
        changed = self.inventory.apply(event)
        if not changed:
            return
        log.warning("%s is now %s: %s", event.device_id, event.health.value, event.reason)
        for resource in changed:
            metrics.HEALTH_TRANSITIONS.labels(resource=resource, state=event.health.value).inc()
        metrics.observe_units(self.inventory.all_units())
        self._publish()

    def _watch_health(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self.backend.watch_health(self._stop):
                    self.apply(event)
                self._stop.wait(HEALTH_RETRY_SECONDS)  # a watcher that ends early is restarted, not spun
            except Exception:
                log.exception("health watcher failed; restarting it in %.0f s", HEALTH_RETRY_SECONDS)
                self._stop.wait(HEALTH_RETRY_SECONDS)

    def _publish(self) -> None:
        if self._publisher is None:
            return
        labels, annotations = node_metadata(
            self.inventory.devices(), self._driver, self.config.site, self.config.site_kind
        )
        try:
            self._publisher.publish(self.config.node_name, labels, annotations)
        except Exception as exc:  # the API server being away must not stop device service
            log.warning("could not publish labels and inventory on node %s: %s", self.config.node_name, exc)
