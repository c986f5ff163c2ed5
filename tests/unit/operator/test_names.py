"""Names the API server accepts for an AIJob but not for its children: refused at admission, or derived to fit."""

from __future__ import annotations

import re
from typing import Any

from motherboard.api.manifests import parse_object
from motherboard.api.v1alpha1 import AIJob
from motherboard.operator.names import fit, name_problems
from motherboard.operator.render import ray_head_service, render_pod, render_services, slots
from tests.unit.api.builders import aijob, task

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def job(name: str, **spec: Any) -> AIJob:
    manifest = aijob(**spec)
    manifest["metadata"]["name"] = name
    parsed = parse_object(manifest)
    assert isinstance(parsed, AIJob)
    return parsed


def test_a_56_character_job_gets_hostnames_that_fit_and_a_master_address_that_resolves_to_them() -> None:
    name = "a" * 56  # "-worker-0" made the hostname 65 characters: every pod refused, 422 every 2 s
    j = job(name, framework="PyTorch", tasks=[task("worker", 12)])
    rendered = [render_pod(j, "uid", slot) for slot in slots(j)]
    hostnames = [p["spec"]["hostname"] for p in rendered]
    assert all(DNS_LABEL.match(h) for h in hostnames), hostnames
    assert len(set(hostnames)) == 12  # the hash keeps them apart
    assert [p["metadata"]["name"] for p in rendered][:2] == [f"{name}-worker-0", f"{name}-worker-1"]
    master = {e["value"] for e in rendered[0]["spec"]["containers"][0]["env"] if e["name"] == "MASTER_ADDR"}
    assert master == {f"{hostnames[0]}.{name}"}
    assert name_problems(j) == []


def test_names_that_fit_are_unchanged_and_cut_names_keep_their_start_and_differ() -> None:
    assert fit("job-worker-0") == "job-worker-0"
    long_a, long_b = "x" * 60 + "-worker-10", "x" * 60 + "-worker-11"
    assert fit(long_a) != fit(long_b)
    assert all(
        len(fit(n)) <= 63 and fit(n).startswith("x" * 40) and DNS_LABEL.match(fit(n))
        for n in (long_a, long_b)
    )
    assert fit("y" * 51 + "-" * 20) == fit("y" * 51 + "-" * 20)  # stable: the same pod gets the same name


def test_ray_services_fit_too() -> None:
    j = job("r" * 62, framework="Ray", tasks=[task("head", 1), task("worker", 2)])
    services = [s["metadata"]["name"] for s in render_services(j, "uid")]
    assert ray_head_service(j) in services and all(len(s) <= 63 for s in services)


def test_a_name_longer_than_a_label_value_is_refused_naming_the_field() -> None:
    (problem,) = name_problems(job("n" * 64))
    assert problem.startswith("metadata.name: 64 characters, at most 63")


def test_a_leading_digit_is_refused_only_where_a_service_is_named_after_the_job() -> None:
    (problem,) = name_problems(job("7b-finetune", framework="PyTorch"))
    assert "starts with a digit" in problem and "Service" in problem
    generic_batch = job("7b-batch", framework="Generic", type="Batch", tasks=[task("main", 1)])
    assert name_problems(generic_batch) == []
