"""The hardware abstraction: a pure device data model and one backend per vendor.

Only :mod:`motherboard.devices.model` may be imported by the operator and the scheduler; vendor backends
are for the device plugin.
"""
