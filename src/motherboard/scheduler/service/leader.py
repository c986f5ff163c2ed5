"""The scheduler's leader election is the shared Lease elector (:mod:`motherboard.kube.leader`)."""

from motherboard.kube.leader import LeaderElector

__all__ = ["LeaderElector"]
