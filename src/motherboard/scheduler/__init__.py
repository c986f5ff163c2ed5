"""The scheduler core: pure Python and numpy, no Kubernetes client.

- :mod:`~motherboard.scheduler.cache`: cluster state (``ClusterCache``, ``Snapshot``, ``Transaction``);
- :mod:`~motherboard.scheduler.placement`: where each pod goes and on which devices;
- :mod:`~motherboard.scheduler.simulate`: trace replay (``motherboard simulate``);
- ``admission`` and ``queueing``: whether a job may run now (quota, fair share, preemption).

The same code drives the Kubernetes scheduler process and the in-memory simulator.
"""
