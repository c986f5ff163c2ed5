"""``motherboard demo``: the local cluster, the operator, the scheduler and the examples, watched live."""
