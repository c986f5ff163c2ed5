"""Trace and node-list loaders: both pod-list forms, and errors that name file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from motherboard.scheduler.simulate.trace import TraceError, load_nodes, load_pods

LONG = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
SHORT = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pods.csv"
    path.write_text(text)
    return path


def test_eleven_column_form_is_read(tmp_path: Path) -> None:
    pods = load_pods(_write(tmp_path, LONG + "p0,12000,16384,1,460,T4|P100,BE,Running,5,100,7\n"))
    assert pods[0].gpu_spec == ("T4", "P100") and pods[0].qos == "BE" and pods[0].scheduled_time == 7


def test_five_column_form_is_read(tmp_path: Path) -> None:
    pods = load_pods(_write(tmp_path, SHORT + "p0,4000,1024,0,0\np1,8000,2048,8,1000\n"))
    assert [p.total_gpu_milli for p in pods] == [0, 8000]


ERRORS = [
    ("bad number", SHORT + "p0,4000,1024,0,0\np1,lots,1024,0,0\n", 3, 2),
    ("missing field", SHORT + "p0,4000,1024,0\n", 2, 5),
    ("negative memory", SHORT + "p0,4000,-1,0,0\n", 2, 3),
    ("share without gpu", SHORT + "p0,4000,1,0,500\n", 2, 5),
    ("wrong header", "name,cpu,memory_mib,num_gpu,gpu_milli\n", 1, 2),
]


@pytest.mark.parametrize(("case", "text", "line", "column"), ERRORS, ids=[e[0] for e in ERRORS])
def test_malformed_trace_error_names_file_line_and_column(
    tmp_path: Path, case: str, text: str, line: int, column: int
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TraceError) as info:
        load_pods(path)
    assert str(info.value).startswith(f"{path}:{line}:{column}:")


def test_malformed_node_list_error_names_the_cell(tmp_path: Path) -> None:
    path = tmp_path / "nodes.csv"
    path.write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,\n")
    with pytest.raises(TraceError, match=rf"^{path}:2:5: a node with GPUs needs a model"):
        load_nodes(path)
