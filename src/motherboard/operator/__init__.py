"""The Motherboard operator: kopf handlers (thin) over pure renderers and a pure lifecycle planner.

- :mod:`.render` turns an AIJob into pods and services (no I/O).
- :mod:`.lifecycle` turns an AIJob and its observed pods into a plan: pods to create or delete and the status.
- :mod:`.handlers` wires both to the API server with kopf.
"""
