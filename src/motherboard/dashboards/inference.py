"""The inference dashboard: what ``motherboard runtime serve`` exports, per model and version.

The runtime speaks Triton's metric names (``nv_inference_*``: cumulative counters of requests and of
microseconds spent per phase) plus its own ``motherboard_runtime_*`` (a batch-size histogram, queue depth,
the device it was given). Triton's counters give *mean* latencies per interval; the runtime's own
``motherboard_runtime_request_duration_seconds`` histogram gives the p50/p99.
"""

from __future__ import annotations

from motherboard.dashboards.model import Dashboard, Panel, Row, Target, Variable

_M = 'model=~"$model"'
_BY = "model, version"
_LEGEND = "{{model}} v{{version}}"


def _rate(metric: str) -> str:
    return f"sum by ({_BY}) (rate({metric}{{{_M}}}[$__rate_interval]))"


_REQUESTS = f"({_rate('nv_inference_request_success')} + {_rate('nv_inference_request_failure')})"
"""Requests per second, answered either way (failures summed over their reasons first)."""


def _per_request(metric: str, scale: float = 1e6) -> str:
    """Seconds of ``metric`` (microseconds) per request answered."""
    return f"{_rate(metric)} / ({_REQUESTS} > 0) / {scale:g}"


def _batch_quantile(q: float) -> Target:
    return Target(
        f"histogram_quantile({q}, sum by (le, {_BY}) "
        f"(rate(motherboard_runtime_batch_size_bucket{{{_M}}}[$__rate_interval])))",
        f"{_LEGEND} p{int(q * 100)}",
    )


def _latency_quantile(q: float) -> Target:
    return Target(
        f"histogram_quantile({q}, sum by (le, {_BY}) "
        f"(rate(motherboard_runtime_request_duration_seconds_bucket{{{_M}}}[$__rate_interval])))",
        f"{_LEGEND} p{int(q * 100)}",
    )


INFERENCE = Dashboard(
    uid="motherboard-inference",
    title="Motherboard / Inference",
    description="Model servers (motherboard runtime serve): request rate, errors, latency split into queue "
    "and compute, dynamic batching, per model and version.",
    variables=(Variable("model", "label_values(motherboard_runtime_model_ready, model)", "Model"),),
    rows=(
        Row(
            "Traffic",
            (
                Panel(
                    "Model versions ready",
                    (Target(f"count(motherboard_runtime_model_ready{{{_M}}}) or vector(0)"),),
                    kind="stat",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Requests per second",
                    (Target(f"sum({_REQUESTS}) or vector(0)"),),
                    kind="stat",
                    unit="reqps",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Requests in flight",
                    (Target("sum(motherboard_runtime_in_flight_requests)"),),
                    kind="stat",
                    width=6,
                    height=5,
                    description="Received and not yet answered, over every server process.",
                ),
                Panel(
                    "Waiting in batch queues",
                    (Target(f"sum(motherboard_runtime_queue_depth{{{_M}}})"),),
                    kind="stat",
                    width=6,
                    height=5,
                ),
                Panel(
                    "Request rate by model and version",
                    (
                        Target(_rate("nv_inference_request_success"), f"{_LEGEND} ok"),
                        Target(
                            f"sum by ({_BY}, reason) (rate(nv_inference_request_failure{{{_M}}}[$__rate_interval]))",
                            f"{_LEGEND} failed: {{{{reason}}}}",
                        ),
                    ),
                    unit="reqps",
                    description="Failures by reason: REJECTED (queue full or bad request), BACKEND (the "
                    "model failed), CANCELED, OTHER.",
                ),
                Panel(
                    "Error ratio",
                    (Target(f"{_rate('nv_inference_request_failure')} / ({_REQUESTS} > 0)", _LEGEND),),
                    unit="percentunit",
                    description="Failed / all requests answered in the interval (the alert fires above 5 %).",
                ),
            ),
        ),
        Row(
            "Latency",
            (
                Panel(
                    "Request latency p50 / p99 (and the mean)",
                    (
                        _latency_quantile(0.5),
                        _latency_quantile(0.99),
                        Target(_per_request("nv_inference_request_duration_us"), f"{_LEGEND} mean"),
                    ),
                    unit="s",
                    description="Successful requests, arrival to response inside the server: quantiles from "
                    "the runtime's latency histogram, the mean from Triton's cumulative counter.",
                ),
                Panel(
                    "Queue delay and compute time per request",
                    (
                        Target(_per_request("nv_inference_queue_duration_us"), f"{_LEGEND} queue"),
                        Target(
                            f"({_rate('nv_inference_compute_input_duration_us')}"
                            f" + {_rate('nv_inference_compute_infer_duration_us')}"
                            f" + {_rate('nv_inference_compute_output_duration_us')})"
                            f" / ({_REQUESTS} > 0) / 1e+06",
                            f"{_LEGEND} compute",
                        ),
                    ),
                    unit="s",
                    description="Queue delay grows with load and the batcher's max_queue_delay; compute is input "
                    "copy, inference and output copy. Queue well above compute: add instances.",
                ),
            ),
        ),
        Row(
            "Batching",
            (
                Panel(
                    "Batch size (rows per execution)",
                    (_batch_quantile(0.5), _batch_quantile(0.99)),
                    description="Dynamic batching at work: 1 means every request ran alone.",
                ),
                Panel(
                    "Mean batch size",
                    (
                        Target(
                            f"{_rate('nv_inference_count')} / ({_rate('nv_inference_exec_count')} > 0)",
                            _LEGEND,
                        ),
                    ),
                    description="Inferences (a batch of n counts n) per model execution.",
                ),
                Panel(
                    "Queue depth",
                    (Target(f"max by ({_BY}) (motherboard_runtime_queue_depth{{{_M}}})", _LEGEND),),
                ),
                Panel(
                    "Serving processes",
                    (
                        Target(
                            "sum by (instance, target, device, slice) (motherboard_runtime_device_info)",
                            "{{instance}}",
                        ),
                    ),
                    kind="table",
                    description="Each server process and the device (or slice) it was given.",
                ),
            ),
        ),
    ),
)
