"""Configuration of the device plugin process (a YAML file; the CLI may override single fields)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

KUBELET_PLUGIN_DIR = Path("/var/lib/kubelet/device-plugins")


class BackendKind(StrEnum):
    NVIDIA = "nvidia"
    ASCEND = "ascend"
    CAMBRICON = "cambricon"
    AMD = "amd"
    KUNLUNXIN = "kunlunxin"
    METAX = "metax"
    SIMULATED = "simulated"


class PluginConfig(BaseModel):
    """Everything ``motherboard device-plugin run`` needs."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    node_name: str = Field(
        alias="nodeName", min_length=1, description="This node (usually from the downward API)."
    )
    backend: BackendKind = BackendKind.SIMULATED
    plugin_dir: Path = Field(
        default=KUBELET_PLUGIN_DIR,
        alias="pluginDir",
        description="Where plugin sockets go (the kubelet's folder).",
    )
    kubelet_socket: Path | None = Field(
        default=None,
        alias="kubeletSocket",
        description="The kubelet's registration socket; default <pluginDir>/kubelet.sock.",
    )
    state_file: Path | None = Field(
        default=Path("/var/lib/motherboard/device-plugin/allocations.json"),
        alias="stateFile",
        description="The allocation map; null keeps it in memory only.",
    )
    simulated_config: Path | None = Field(
        default=None, alias="simulatedConfig", description="YAML of simulated devices."
    )
    site: str | None = Field(default=None, description="Site label value (central or an edge site name).")
    site_kind: str | None = Field(default=None, alias="siteKind", description="central or edge.")
    cdi: bool = Field(
        default=False, description="Also return CDI device names (needs CDI specs on the node)."
    )
    require_assignment: bool = Field(
        default=False,
        alias="requireAssignment",
        description="Refuse pods that carry no device assignment (nodes reserved for the motherboard scheduler).",
    )
    workers: int = Field(default=16, ge=4, description="gRPC workers per resource server.")
    health_poll_seconds: float = Field(
        default=5.0, alias="healthPollSeconds", gt=0, description="Vendor tool polling."
    )
    metrics_port: int = Field(
        default=9400, alias="metricsPort", ge=0, le=65535, description="0 disables /metrics."
    )
    publish_node: bool = Field(
        default=True, alias="publishNode", description="Write labels and inventory on the Node."
    )

    @property
    def kubelet_socket_path(self) -> Path:
        return self.kubelet_socket or self.plugin_dir / "kubelet.sock"

    @classmethod
    def load(cls, path: Path | None, **overrides: object) -> PluginConfig:
        """The file's settings (if any) with the non-``None`` overrides on top."""
        raw = (yaml.safe_load(path.read_text()) or {}) if path is not None else {}
        # Overrides come by field name; the file uses aliases: key both by alias so that overrides win.
        set_overrides = {(cls.model_fields[k].alias or k): v for k, v in overrides.items() if v is not None}
        return cls.model_validate({**raw, **set_overrides})
