"""Job traces: the CSV loader's errors name the file, line, column and fix; the sources convert faithfully."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from motherboard.scheduler.simulate.jobs import (
    JOB_COLUMNS,
    JobSpec,
    jobs_from_philly,
    jobs_from_pods,
    load_jobs,
    synthetic_jobs,
    write_jobs,
)
from motherboard.scheduler.simulate.trace import TraceError, load_pods
from motherboard.scheduler.simulate.tracefiles import trace_file

HEADER = ",".join(JOB_COLUMNS)


def write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "jobs.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_the_eight_documented_columns_are_enough_and_the_rest_take_defaults(tmp_path: Path) -> None:
    (job,) = load_jobs(write(tmp_path, "train,10,3600,team-a,4,8,A100,2"))
    assert job == JobSpec("train", 10, 3600, "team-a", 4, 8, "A100", 2)
    assert job.gpus == 32 and not job.checkpoint


def test_a_written_trace_reads_back_the_same(tmp_path: Path) -> None:
    jobs = synthetic_jobs(1, 50, capacity_gpus=64)
    assert load_jobs(write_jobs(tmp_path / "t.csv", jobs)) == jobs


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("a,ten,5,t,1,1,,0", 2, "submit_time: 'ten' is not a number >= 0"),
        ("a,0,-5,t,1,1,,0", 3, "duration: '-5' is not a number >= 0"),
        ("a,0,5,,1,1,,0", 4, "tenant: empty; name the tenant"),
        ("a,0,5,t,0,1,,0", 5, "replicas: '0' is not a whole number >= 1"),
        ("a,0,5,t,1,1.5,,0", 6, "gpus_per_replica: '1.5' is not a whole number"),
        ("a,0,5,t,1,1,,high", 8, "priority: 'high' is not an integer"),
        ("a,0,5,t,1", 6, "expected 8 fields, found 5"),
    ],
)
def test_a_bad_row_names_the_line_the_column_and_the_fix(
    tmp_path: Path, row: str, column: int, message: str
) -> None:
    path = write(tmp_path, "ok,0,1,t,1,1,,0", row)
    with pytest.raises(TraceError) as err:
        load_jobs(path)
    assert str(err.value).startswith(f"{path}:3:{column}: {message}")


def test_a_fraction_of_several_devices_and_a_missing_column_are_refused_with_the_fix(tmp_path: Path) -> None:
    header = HEADER + ",gpu_milli"
    with pytest.raises(TraceError, match=r"set gpus_per_replica to 1"):
        load_jobs(write(tmp_path, "a,0,5,t,1,2,,0,500", header=header))
    with pytest.raises(TraceError, match=r"missing column\(s\) priority; a job trace's header starts name,"):
        load_jobs(write(tmp_path, "a,0,5,t,1,2,", header=",".join(JOB_COLUMNS[:-1])))
    with pytest.raises(TraceError, match=r"job 'a' appears twice; give every job a unique name"):
        load_jobs(write(tmp_path, "a,0,5,t,1,1,,0", "a,1,5,t,1,1,,0"))


def test_a_synthetic_trace_is_reproducible_offers_the_load_asked_and_has_gangs_and_bursts() -> None:
    jobs = synthetic_jobs(42, 4000, capacity_gpus=512, load=0.9, median_duration_s=300)
    assert jobs == synthetic_jobs(42, 4000, capacity_gpus=512, load=0.9, median_duration_s=300)
    assert jobs != synthetic_jobs(43, 4000, capacity_gpus=512, load=0.9, median_duration_s=300)
    span = jobs[-1].submit_time - jobs[0].submit_time
    offered = sum(j.gpus * j.duration for j in jobs) / (512 * span)
    assert 0.7 < offered < 1.1, offered
    sizes = {j.replicas * j.gpus_per_replica for j in jobs}
    assert {1, 8, 16, 128} <= sizes and max(sizes) == 128
    assert all(j.gpus_per_replica == 8 for j in jobs if j.replicas > 1), "big gangs are whole nodes"
    durations = sorted(j.duration for j in jobs)
    assert statistics.fmean(durations) > 2 * statistics.median(durations), "heavy-tailed"
    assert len({j.tenant for j in jobs}) == 4


def test_alibaba_pods_become_one_pod_jobs_from_their_creation_scheduling_and_deletion_times() -> None:
    pods = load_pods(trace_file("openb_pod_list_default.csv"))
    jobs = jobs_from_pods(pods)
    with_gpu = [p for p in pods if p.num_gpu and p.deletion_time is not None and p.creation_time is not None]
    assert len(jobs) == len(with_gpu) > 5000
    first = next(p for p in with_gpu if p.name == "openb-pod-0001")
    job = next(j for j in jobs if j.name == "openb-pod-0001")
    assert job.submit_time == first.creation_time
    assert job.duration == first.deletion_time - (first.scheduled_time or first.creation_time)  # type: ignore[operator]
    assert job.gpu_milli == first.gpu_milli and job.replicas == 1 and job.tenant == first.qos


def test_philly_jobs_take_the_last_attempt_s_machines_and_times(tmp_path: Path) -> None:
    log = [
        {"jobid": "application_1", "vc": "vc-a", "user": "u", "status": "Pass",
         "submitted_time": "2017-10-03 04:00:00",
         "attempts": [
             {"start_time": "2017-10-03 04:01:00", "end_time": "2017-10-03 04:02:00",
              "detail": [{"ip": "m1", "gpus": ["gpu0"]}]},
             {"start_time": "2017-10-03 04:10:00", "end_time": "2017-10-03 05:10:00",
              "detail": [{"ip": "m1", "gpus": ["gpu0", "gpu1"]}, {"ip": "m2", "gpus": ["gpu0", "gpu1"]}]},
         ]},
        {"jobid": "application_2", "vc": "vc-b", "submitted_time": "2017-10-03 04:30:00",
         "attempts": [{"start_time": "2017-10-03 04:30:05", "end_time": "2017-10-03 04:30:35",
                       "detail": [{"ip": "m3", "gpus": ["gpu3"]}]}]},
        {"jobid": "application_3", "vc": "vc-b", "submitted_time": "2017-10-03 04:40:00", "attempts": []},
    ]  # fmt: skip
    path = tmp_path / "cluster_job_log"
    path.write_text(json.dumps(log))
    a, b = jobs_from_philly(path)
    assert (a.name, a.tenant, a.submit_time, a.duration, a.replicas, a.gpus_per_replica) == (
        "application_1",
        "vc-a",
        0.0,
        3600.0,
        2,
        2,
    )
    assert (b.submit_time, b.duration, b.gpus) == (1800.0, 30.0, 1)
    path.write_text('{"not": "a list"}')
    with pytest.raises(TraceError, match="expected a JSON list of jobs"):
        jobs_from_philly(path)
