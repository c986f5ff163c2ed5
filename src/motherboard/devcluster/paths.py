"""Where binaries are cached and where a running cluster keeps its state."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository checkout this package runs from (``hack/tools`` holds the Go tool modules).

    The package is used from an editable install, so the checkout is found relative to this file; the
    ``MOTHERBOARD_REPO`` variable overrides it for other layouts.
    """
    override = os.environ.get("MOTHERBOARD_REPO")
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parents[3]


def cache_dir() -> Path:
    """Root of the binary cache, outside the repository so clones and `git clean` keep it."""
    override = os.environ.get("MOTHERBOARD_CACHE")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "motherboard"


def state_dir() -> Path:
    """Directory of the dev cluster: certificates, kubeconfigs, etcd data, logs and recorded PIDs."""
    override = os.environ.get("MOTHERBOARD_STATE")
    if override:
        return Path(override).expanduser() / "dev-cluster"
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return base / "motherboard" / "dev-cluster"
