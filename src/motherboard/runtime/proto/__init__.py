"""Generated stubs of the inference gRPC API (source: ``grpc_predict_v2.proto`` next to them).

``pb`` holds the messages (typed through the generated ``.pyi``); ``grpc_stubs`` holds the service stub and
``add_GRPCInferenceServiceServicer_to_server``. The gRPC module is loaded by name on purpose: it carries no
type information, and a static import would make mypy check generated code under ``--strict``.
"""

import importlib
from typing import Any

from motherboard.runtime.proto import grpc_predict_v2_pb2 as pb

grpc_stubs: Any = importlib.import_module(f"{__name__}.grpc_predict_v2_pb2_grpc")

__all__ = ["grpc_stubs", "pb"]
