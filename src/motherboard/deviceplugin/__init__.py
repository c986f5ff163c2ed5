"""The kubelet device plugin: a gRPC adapter (kubelet API ``v1beta1``) over a :mod:`motherboard.devices` backend.

Entry points: :class:`~motherboard.deviceplugin.plugin.DevicePlugin` (the process) and
``motherboard device-plugin`` (:mod:`motherboard.deviceplugin.cli`).
"""
