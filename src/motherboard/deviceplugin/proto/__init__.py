"""Generated stubs of the kubelet device plugin API ``v1beta1`` (source: ``api.proto`` next to them).

``pb`` holds the messages (typed through the generated ``.pyi``); ``grpc_stubs`` holds the service
stubs and ``add_*_to_server`` helpers. The gRPC module is loaded by name on purpose: it carries no type
information, and a static import would make mypy check generated code under ``--strict``.
"""

import importlib
from typing import Any

from motherboard.deviceplugin.proto import api_pb2 as pb

API_VERSION = "v1beta1"
"""The kubelet API version the plugin registers with."""

grpc_stubs: Any = importlib.import_module(f"{__name__}.api_pb2_grpc")

__all__ = ["API_VERSION", "grpc_stubs", "pb"]
