"""Prometheus text for ``/metrics``: Triton's ``nv_inference_*`` names, then ``motherboard_runtime_*``.

Written by hand rather than through prometheus_client because its counters append ``_total`` to every name,
and the dashboards Triton users already have query ``nv_inference_request_success`` as Triton exposes it.
The numbers come from the same :class:`VersionStats` as the statistics extension.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from motherboard.runtime.repository import Repository
from motherboard.runtime.stats import FAILURE_REASONS, LATENCY_BUCKETS_S, VersionStats

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class DeviceInfo:
    """The device (or slice of one) this process was given, for ``motherboard_runtime_device_info``."""

    target: str
    device: str
    slice: str = ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def render(repository: Repository, device: DeviceInfo, in_flight: int) -> str:
    """The whole exposition."""
    versions = [
        (m.name, str(v.version), v)
        for m in sorted(repository.models.values(), key=lambda m: m.name)
        for v in (m.versions[k] for k in sorted(m.versions))
    ]
    lines: list[str] = []

    def counter(name: str, help_text: str, value_of: Callable[[VersionStats], int]) -> None:
        lines.extend(
            _family(
                name,
                "counter",
                help_text,
                (f"{name}{_labels(model=m, version=v)} {value_of(lv.stats)}" for m, v, lv in versions),
            )
        )

    counter(
        "nv_inference_request_success",
        "Number of successful inference requests, all batch sizes",
        lambda s: s.success.count,
    )
    lines.extend(
        _family(
            "nv_inference_request_failure",
            "counter",
            "Number of failed inference requests, all batch sizes",
            (
                f"nv_inference_request_failure{_labels(model=m, version=v, reason=r)} {lv.stats.failures.get(r, 0)}"
                for m, v, lv in versions
                for r in FAILURE_REASONS
            ),
        )
    )
    counter(
        "nv_inference_count",
        "Number of inferences performed (a batch of n counts n)",
        lambda s: s.inference_count,
    )
    counter(
        "nv_inference_exec_count",
        "Number of model executions performed (one per batch)",
        lambda s: s.execution_count,
    )
    counter(
        "nv_inference_request_duration_us",
        "Cumulative inference request duration in microseconds",
        lambda s: (s.success.ns + s.fail.ns) // 1000,
    )
    counter(
        "nv_inference_queue_duration_us",
        "Cumulative inference queuing duration in microseconds",
        lambda s: s.queue.ns // 1000,
    )
    counter(
        "nv_inference_compute_input_duration_us",
        "Cumulative compute input duration in microseconds",
        lambda s: s.compute_input.ns // 1000,
    )
    counter(
        "nv_inference_compute_infer_duration_us",
        "Cumulative compute inference duration in microseconds",
        lambda s: s.compute_infer.ns // 1000,
    )
    counter(
        "nv_inference_compute_output_duration_us",
        "Cumulative inference compute output duration in microseconds",
        lambda s: s.compute_output.ns // 1000,
    )
    lines.extend(
        _family(
            "nv_inference_pending_request_count",
            "gauge",
            "Instantaneous number of pending requests awaiting execution per-model",
            (
                f"nv_inference_pending_request_count{_labels(model=m, version=v)} "
                f"{lv.batcher.depth if lv.batcher else 0}"
                for m, v, lv in versions
            ),
        )
    )

    histogram: list[str] = []
    for m, v, lv in versions:
        sizes = {rows: b.compute_infer.count for rows, b in lv.stats.batches.items()}
        cumulative = 0
        for bound in BATCH_BUCKETS:
            cumulative = sum(n for rows, n in sizes.items() if rows <= bound)
            histogram.append(
                f"motherboard_runtime_batch_size_bucket{_labels(model=m, version=v, le=str(bound))} {cumulative}"
            )
        total = sum(sizes.values())
        histogram.append(
            f"motherboard_runtime_batch_size_bucket{_labels(model=m, version=v, le='+Inf')} {total}"
        )
        histogram.append(
            f"motherboard_runtime_batch_size_sum{_labels(model=m, version=v)} "
            f"{sum(rows * n for rows, n in sizes.items())}"
        )
        histogram.append(f"motherboard_runtime_batch_size_count{_labels(model=m, version=v)} {total}")
    lines.extend(
        _family("motherboard_runtime_batch_size", "histogram", "Rows per model execution", histogram)
    )
    latency: list[str] = []
    for m, v, lv in versions:
        seen = 0
        for limit, count in zip(LATENCY_BUCKETS_S, lv.stats.latency_buckets, strict=True):
            seen += count
            latency.append(
                f"motherboard_runtime_request_duration_seconds_bucket{_labels(model=m, version=v, le=f'{limit:g}')} "
                f"{seen}"
            )
        total = seen + lv.stats.latency_overflow
        latency.append(
            f"motherboard_runtime_request_duration_seconds_bucket{_labels(model=m, version=v, le='+Inf')} {total}"
        )
        latency.append(
            f"motherboard_runtime_request_duration_seconds_sum{_labels(model=m, version=v)} {lv.stats.success.ns / 1e9:.6f}"
        )
        latency.append(
            f"motherboard_runtime_request_duration_seconds_count{_labels(model=m, version=v)} {total}"
        )
    lines.extend(
        _family(
            "motherboard_runtime_request_duration_seconds",
            "histogram",
            "Latency of successful inference requests, arrival to response",
            latency,
        )
    )
    lines.extend(
        _family(
            "motherboard_runtime_queue_depth",
            "gauge",
            "Requests waiting in a model version's queue",
            (
                f"motherboard_runtime_queue_depth{_labels(model=m, version=v)} {lv.batcher.depth if lv.batcher else 0}"
                for m, v, lv in versions
            ),
        )
    )
    lines.extend(
        _family(
            "motherboard_runtime_in_flight_requests",
            "gauge",
            "Inference requests received and not yet answered",
            [f"motherboard_runtime_in_flight_requests {in_flight}"],
        )
    )
    lines.extend(
        _family(
            "motherboard_runtime_device_info",
            "gauge",
            "The device (and slice) this server process was given; always 1",
            [
                "motherboard_runtime_device_info"
                + _labels(target=device.target, device=device.device, slice=device.slice)
                + " 1"
            ],
        )
    )
    lines.extend(
        _family(
            "motherboard_runtime_model_ready",
            "gauge",
            "1 for every model version the server serves",
            (f"motherboard_runtime_model_ready{_labels(model=m, version=v)} 1" for m, v, _ in versions),
        )
    )
    return "\n".join(lines) + "\n"
