"""A local Kubernetes control plane built from pinned Go modules, with kwok-simulated accelerator nodes.

``motherboard dev-cluster up`` builds etcd, kube-apiserver, kube-controller-manager, kwok (and kubectl,
kube-scheduler and helm for tools and tests) once into a cache outside the repository, starts them on
127.0.0.1 and creates fake nodes from a cluster profile (:mod:`motherboard.devcluster.profile`).

:mod:`~motherboard.devcluster.profile` and :mod:`~motherboard.devcluster.render` are pure (no Kubernetes
client) so the scheduler's simulator can reuse the same node shapes.
"""
