"""Motherboard: one control plane between AI jobs and heterogeneous accelerators on Kubernetes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("motherboard")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
