"""Queueing: pending workloads per queue, their order, and one head per queue for each cycle.

Within a queue: higher priority first, then older first; a head that cannot be admitted waits with
backoff (``BestEffortFIFO``: others overtake it; ``StrictFIFO``: the queue waits with it). Across queues
the cycle orders heads by fair share (:func:`motherboard.scheduler.admission.fair_share_order`).
"""

from motherboard.scheduler.queueing.manager import Backoff, QueueManager
from motherboard.scheduler.queueing.pending import PendingQueue

__all__ = ["Backoff", "PendingQueue", "QueueManager"]
