"""``motherboard device-plugin``: run the kubelet device plugin, or show what it would advertise."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from motherboard.deviceplugin.backends import build_backend
from motherboard.deviceplugin.config import BackendKind, PluginConfig
from motherboard.deviceplugin.node import node_metadata
from motherboard.deviceplugin.resources import counts
from motherboard.devices.backend import BackendUnavailable

app = typer.Typer(
    help="The kubelet device plugin for NVIDIA, Ascend, Cambricon, AMD, Kunlunxin, MetaX and simulated devices."
)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Plugin configuration YAML.")]
NodeOpt = Annotated[str | None, typer.Option("--node-name", envvar="NODE_NAME", help="This node's name.")]
BackendOpt = Annotated[BackendKind | None, typer.Option("--backend", help="Device backend.")]
SimOpt = Annotated[Path | None, typer.Option("--simulated-config", help="YAML of simulated devices.")]


def _config(
    config: Path | None, node_name: str | None, backend: BackendKind | None, sim: Path | None
) -> PluginConfig:
    try:
        return PluginConfig.load(config, node_name=node_name, backend=backend, simulated_config=sim)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: invalid device plugin configuration: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def run(
    config: ConfigOpt = None,
    node_name: NodeOpt = None,
    backend: BackendOpt = None,
    simulated_config: SimOpt = None,
) -> None:
    """Serve the devices to the kubelet until SIGTERM/SIGINT."""
    from motherboard.deviceplugin.node import KubernetesNodePublisher
    from motherboard.deviceplugin.plugin import DevicePlugin
    from motherboard.deviceplugin.pods import KubernetesPodSource

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = _config(config, node_name, backend, simulated_config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        publisher = KubernetesNodePublisher() if cfg.publish_node else None
        plugin = DevicePlugin(build_backend(cfg), cfg, KubernetesPodSource(), publisher)
        plugin.start()
    except BackendUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if cfg.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(cfg.metrics_port)
    try:
        stop.wait()
    finally:
        plugin.stop()


@app.command()
def discover(
    config: ConfigOpt = None,
    node_name: NodeOpt = None,
    backend: BackendOpt = None,
    simulated_config: SimOpt = None,
) -> None:
    """Print the devices, advertised resources and node labels as JSON (no kubelet needed)."""
    cfg = _config(config, node_name or "local", backend, simulated_config)
    try:
        chosen = build_backend(cfg)
        devices = chosen.discover()
        driver = chosen.driver_version()
    except BackendUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    labels, _ = node_metadata(devices, driver, cfg.site, cfg.site_kind)
    report: dict[str, Any] = {
        "resources": counts(devices),
        "labels": {k: v for k, v in labels.items() if v is not None},
        "devices": [d.model_dump(mode="json", by_alias=True, exclude_defaults=True) for d in devices],
    }
    typer.echo(json.dumps(report, indent=2))
