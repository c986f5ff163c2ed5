"""Where the Alibaba GPU trace (2023, the FGD paper's) is found: one setting, one clear failure.

The trace is public (the ``cluster-trace-gpu-v2023/csv/`` folder of alibaba/clusterdata) but not in this
repository. It is looked up in ``$MOTHERBOARD_TRACES`` when set, else in ``shared/traces/alibaba-gpu-2023``
beside the checkout (this team's machines and CI), else in ``~/.cache/motherboard/traces/alibaba-gpu-2023``
(where ``make traces`` downloads it). A missing file is :class:`TraceMissing`, whose message says what is
missing and how to get it.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

ENV = "MOTHERBOARD_TRACES"
FILES = (
    "openb_pod_list_default.csv",
    "openb_pod_list_gpuspec20.csv",
    "openb_node_list_gpu_node.csv",
    "openb_node_list_all_node.csv",
)
UPSTREAM = "https://raw.githubusercontent.com/alibaba/clusterdata/master/cluster-trace-gpu-v2023/csv/"
_BESIDE_CHECKOUT = Path(__file__).resolve().parents[5] / "shared" / "traces" / "alibaba-gpu-2023"


class TraceMissing(FileNotFoundError):
    """A trace file is not where the simulator looks; the message says how to get it."""


def cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "motherboard" / "traces" / "alibaba-gpu-2023"


def trace_dir() -> Path:
    """The folder the trace is read from (it may not exist: :func:`trace_file` says so)."""
    override = os.environ.get(ENV)
    if override:
        return Path(override)
    if _BESIDE_CHECKOUT.is_dir():
        return _BESIDE_CHECKOUT
    return cache_dir()


def trace_file(name: str) -> Path:
    """The path of one trace file; :class:`TraceMissing` when it is not there."""
    path = trace_dir() / name
    if not path.is_file():
        raise TraceMissing(
            f"the Alibaba GPU trace file {path} is missing: run `make traces` (downloads {', '.join(FILES)} "
            f"from alibaba/clusterdata) or set {ENV} to a folder holding them"
        )
    return path


def download(folder: Path | None = None, timeout_s: float = 60) -> list[Path]:
    """Fetch the trace's CSVs into ``folder`` (default: the cache), skipping files already there."""
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FILES:
        path = folder / name
        if path.is_file():
            continue
        tmp = path.with_suffix(".part")
        with urllib.request.urlopen(UPSTREAM + name, timeout=timeout_s) as response, tmp.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        tmp.replace(path)
        written.append(path)
    return written


if __name__ == "__main__":  # `make traces`
    import sys

    try:
        done = download()
    except OSError as exc:
        sys.exit(f"error: cannot download the trace from alibaba/clusterdata ({exc}); set {ENV} instead")
    print(f"trace in {cache_dir()} ({len(done)} file(s) downloaded)")
