"""The dev cluster's Prometheus configuration (checked by promtool) and its file-based target registration."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from motherboard.devcluster import prometheus as prom


def auth(tmp_path: Path) -> prom.ApiserverAuth:
    for name in ("ca.crt", "admin.crt", "admin.key"):
        (tmp_path / name).write_text("placeholder\n")
    return prom.ApiserverAuth(6443, tmp_path / "ca.crt", tmp_path / "admin.crt", tmp_path / "admin.key")


def test_promtool_accepts_the_configuration_with_the_charts_rules(tmp_path: Path) -> None:
    folder = prom.PrometheusDir(tmp_path)
    config = folder.write(auth(tmp_path), prom.rules_file())
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: `make system-packages` installs Debian's prometheus"
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_apiserver_is_scraped_over_tls_with_the_client_certificate(tmp_path: Path) -> None:
    rendered = prom.PrometheusDir(tmp_path).render_config(auth(tmp_path), None)
    jobs = {job["job_name"]: job for job in rendered["scrape_configs"]}
    assert set(jobs) == {"kube-apiserver", *prom.JOBS}
    apiserver = jobs["kube-apiserver"]
    assert apiserver["scheme"] == "https"
    assert apiserver["tls_config"]["cert_file"] == str(tmp_path / "admin.crt")
    assert apiserver["static_configs"] == [{"targets": ["127.0.0.1:6443"]}]
    assert "rule_files" not in rendered


def test_a_registered_process_becomes_a_target_file_with_its_labels(tmp_path: Path) -> None:
    path = prom.register_target(tmp_path, "motherboard-device-plugin", "node-a", 9400, {"site": "edge"})
    assert path.parent == prom.PrometheusDir(tmp_path).targets("motherboard-device-plugin")
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:9400"], "labels": {"instance": "node-a", "site": "edge"}}
    ]
    prom.register_target(tmp_path, "motherboard-device-plugin", "node-a", 9500)  # restarted on a new port
    assert json.loads(path.read_text())[0]["targets"] == ["127.0.0.1:9500"]
    assert [p.name for p in path.parent.iterdir()] == ["node-a.json"]  # no temporary file left
    prom.unregister_target(tmp_path, "motherboard-device-plugin", "node-a")
    assert not path.exists()


def test_an_unknown_job_is_refused_with_the_jobs_there_are(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="job 'motherboard-operatr': must be one of motherboard-operator"):
        prom.register_target(tmp_path, "motherboard-operatr", "x", 1)


def test_the_server_listens_on_loopback_with_its_own_storage(tmp_path: Path) -> None:
    folder = prom.PrometheusDir(tmp_path)
    argv = folder.argv(Path("/usr/bin/prometheus"), 9090)
    assert f"--config.file={folder.config}" in argv
    assert f"--storage.tsdb.path={folder.data}" in argv
    assert "--web.listen-address=127.0.0.1:9090" in argv


def test_an_http_discovery_source_joins_the_running_configuration_and_outlives_a_rewrite(
    tmp_path: Path,
) -> None:
    folder = prom.PrometheusDir(tmp_path)
    config = folder.write(auth(tmp_path), None)
    url = "http://127.0.0.1:9500/v1/sd/model-replicas"
    prom.register_http_sd(tmp_path, prom.MODEL_REPLICAS_JOB, url)  # no server running: nothing to reload
    promtool = shutil.which("promtool")
    assert promtool is not None
    check = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for rendered in (yaml.safe_load(config.read_text()), folder.render_config(auth(tmp_path), None)):
        jobs = {job["job_name"]: job for job in rendered["scrape_configs"]}
        assert set(jobs) == {"kube-apiserver", *prom.JOBS, prom.MODEL_REPLICAS_JOB}
        assert jobs[prom.MODEL_REPLICAS_JOB]["http_sd_configs"][0]["url"] == url
    # Registered again (the operator restarted on another port): moved, not doubled.
    prom.register_http_sd(tmp_path, prom.MODEL_REPLICAS_JOB, url.replace("9500", "9600"))
    jobs = [job["job_name"] for job in yaml.safe_load(config.read_text())["scrape_configs"]]
    assert jobs.count(prom.MODEL_REPLICAS_JOB) == 1
    assert "9600" in config.read_text() and "9500" not in config.read_text()
