"""Choosing a backend from configuration: the one place the plugin names vendor backends."""

from __future__ import annotations

from motherboard.deviceplugin.config import BackendKind, PluginConfig
from motherboard.devices.amd import AmdBackend
from motherboard.devices.ascend import AscendBackend
from motherboard.devices.backend import BackendUnavailable, DeviceBackend
from motherboard.devices.cambricon import CambriconBackend
from motherboard.devices.kunlunxin import KunlunxinBackend
from motherboard.devices.metax import MetaxBackend
from motherboard.devices.nvidia import NvmlBackend
from motherboard.devices.simulated import SimulatedBackend


def build_backend(config: PluginConfig) -> DeviceBackend:
    """The configured backend; vendor libraries are touched only when it is first used."""
    if config.backend is BackendKind.NVIDIA:
        return NvmlBackend(node=config.node_name)
    if config.backend is BackendKind.ASCEND:
        return AscendBackend(node=config.node_name, poll_seconds=config.health_poll_seconds)
    if config.backend is BackendKind.CAMBRICON:
        return CambriconBackend(poll_seconds=config.health_poll_seconds)
    if config.backend is BackendKind.AMD:
        return AmdBackend(node=config.node_name, poll_seconds=config.health_poll_seconds)
    if config.backend is BackendKind.KUNLUNXIN:
        return KunlunxinBackend(node=config.node_name, poll_seconds=config.health_poll_seconds)
    if config.backend is BackendKind.METAX:
        return MetaxBackend(poll_seconds=config.health_poll_seconds)
    if config.simulated_config is None:
        raise BackendUnavailable("the simulated backend needs simulatedConfig (a YAML file of devices)")
    return SimulatedBackend(config.simulated_config)
