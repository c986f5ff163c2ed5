"""Loaders for the Alibaba GPU cluster trace 2023 (the "openb" pod and node lists).

Pod lists come in two forms: 11 columns (``name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,
pod_phase,creation_time,deletion_time,scheduled_time``) and the first 5 only. A malformed file fails with a
:class:`TraceError` that names the file, the line and the column, so a broken row is found in seconds.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

POD_COLUMNS = (
    "name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli",
    "gpu_spec", "qos", "pod_phase", "creation_time", "deletion_time", "scheduled_time",
)  # fmt: skip
SHORT_POD_COLUMNS = POD_COLUMNS[:5]
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")

_T = TypeVar("_T")


class TraceError(ValueError):
    """A trace or node file that cannot be read; the message starts with ``file:line:column``."""

    def __init__(self, path: Path, line: int, column: int, message: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path, self.line, self.column = path, line, column


@dataclass(frozen=True, slots=True)
class TracePod:
    """One row of a pod list."""

    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...] = ()
    qos: str = "LS"
    creation_time: int | None = None
    deletion_time: int | None = None
    scheduled_time: int | None = None

    @property
    def total_gpu_milli(self) -> int:
        return self.num_gpu * self.gpu_milli


@dataclass(frozen=True, slots=True)
class TraceNode:
    """One row of a node list."""

    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str


def _rows(
    path: Path, accepted: tuple[tuple[str, ...], ...]
) -> Iterator[tuple[int, tuple[str, ...], list[str]]]:
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise TraceError(path, 0, 0, f"cannot open: {exc.strerror}") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = tuple(cell.strip() for cell in next(reader))
        except StopIteration:
            raise TraceError(path, 1, 1, "empty file; expected a header line") from None
        except csv.Error as exc:
            raise TraceError(path, 1, 1, f"not CSV: {exc}") from exc
        if header not in accepted:
            expected = " or ".join(",".join(cols) for cols in accepted)
            col = next(
                (i + 1 for i, h in enumerate(header) if i >= len(accepted[0]) or h != accepted[0][i]), 1
            )
            raise TraceError(path, 1, col, f"unexpected header {','.join(header)!r}; expected {expected}")
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    col = min(len(row), len(header)) + 1
                    raise TraceError(path, line, col, f"expected {len(header)} fields, found {len(row)}")
                yield line, header, row
        except csv.Error as exc:
            raise TraceError(path, reader.line_num, 1, f"not CSV: {exc}") from exc


def _field(
    path: Path,
    line: int,
    header: tuple[str, ...],
    row: list[str],
    name: str,
    parse: Callable[[str], _T],
    *,
    optional: bool = False,
) -> _T | None:
    col = header.index(name)
    text = row[col].strip()
    if optional and text == "":
        return None
    try:
        value = parse(text)
    except ValueError:
        raise TraceError(path, line, col + 1, f"{name}: {text!r} is not a valid value") from None
    if isinstance(value, int) and value < 0:
        raise TraceError(path, line, col + 1, f"{name}: must not be negative, got {value}")
    return value


def _int(
    path: Path, line: int, header: tuple[str, ...], row: list[str], name: str, opt: bool = False
) -> int | None:
    return _field(path, line, header, row, name, int, optional=opt)


def load_pods(path: str | Path) -> list[TracePod]:
    """Read a pod list in either form."""
    path = Path(path)
    pods = []
    for line, header, row in _rows(path, (POD_COLUMNS, SHORT_POD_COLUMNS)):
        get = functools.partial(_int, path, line, header, row)
        num_gpu, gpu_milli = get("num_gpu"), get("gpu_milli")
        assert num_gpu is not None and gpu_milli is not None
        if gpu_milli > 1000 or (num_gpu == 0) != (gpu_milli == 0):
            col = header.index("gpu_milli") + 1
            raise TraceError(path, line, col, f"gpu_milli {gpu_milli} does not match num_gpu {num_gpu}")
        full = len(header) == len(POD_COLUMNS)
        spec = row[header.index("gpu_spec")].strip() if full else ""
        pods.append(
            TracePod(
                name=row[0].strip(),
                cpu_milli=get("cpu_milli") or 0,
                memory_mib=get("memory_mib") or 0,
                num_gpu=num_gpu,
                gpu_milli=gpu_milli,
                gpu_spec=tuple(s for s in spec.split("|") if s),
                qos=row[header.index("qos")].strip() or "LS" if full else "LS",
                creation_time=get("creation_time", True) if full else None,
                deletion_time=get("deletion_time", True) if full else None,
                scheduled_time=get("scheduled_time", True) if full else None,
            )
        )
    return pods


def load_nodes(path: str | Path) -> list[TraceNode]:
    """Read a node list (``sn,cpu_milli,memory_mib,gpu,model``)."""
    path = Path(path)
    nodes = []
    for line, header, row in _rows(path, (NODE_COLUMNS,)):
        get = functools.partial(_int, path, line, header, row)
        gpus = get("gpu") or 0
        model = row[header.index("model")].strip()
        if gpus and not model:
            raise TraceError(path, line, header.index("model") + 1, "a node with GPUs needs a model")
        nodes.append(TraceNode(row[0].strip(), get("cpu_milli") or 0, get("memory_mib") or 0, gpus, model))
    return nodes
