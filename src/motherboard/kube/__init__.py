"""A thin asyncio Kubernetes client (aiohttp) shared by the operator and the scheduler process.

Thin on purpose: the hot paths (pod creation, binding, status patches) send and receive plain JSON
without building the official client's model objects, and one connection pool serves every call.
"""

from motherboard.kube.client import ApiError, Kube
from motherboard.kube.config import ClusterAccess, load_access

__all__ = ["ApiError", "ClusterAccess", "Kube", "load_access"]
