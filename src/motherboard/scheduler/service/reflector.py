"""The scheduler's watches use the shared list+watch reflector (:mod:`motherboard.kube.reflector`)."""

from motherboard.kube.reflector import GONE, Reflector

__all__ = ["GONE", "Reflector"]
