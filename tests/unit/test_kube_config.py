"""Kubeconfig as kubectl reads it (issue 14): exec and auth-provider users, every path in KUBECONFIG."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from motherboard.kube.config import ConfigError, load_access

EXEC_PLUGIN = """
import json, sys
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": "token-from-" + sys.argv[1]}}))
"""


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", **config}))
    return path


def clusters(server: str = "https://127.0.0.1:6443") -> dict[str, Any]:
    return {
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }


def exec_user(tmp_path: Path, tag: str) -> dict[str, Any]:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(EXEC_PLUGIN)
    command = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": [str(plugin), tag],
        "interactiveMode": "Never",
    }
    return {"users": [{"name": "u", "user": {"exec": command}}]}


def test_an_exec_user_gets_its_token_from_the_plugin(tmp_path: Path) -> None:
    # Before: exec users were ignored, so requests went out without a token (401 on cloud clusters).
    path = write(tmp_path / "config", {**clusters(), **exec_user(tmp_path, "eks")})
    access = load_access(path)
    assert access.server == "https://127.0.0.1:6443"
    assert access.bearer() == "token-from-eks"


def test_every_path_in_kubeconfig_is_merged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: only the first path of $KUBECONFIG was read (here: no user, so no token).
    first = write(tmp_path / "clusters", clusters("https://10.0.0.1:443"))
    second = write(tmp_path / "users", exec_user(tmp_path, "merged"))
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(second)]))
    access = load_access()
    assert (access.server, access.bearer()) == ("https://10.0.0.1:443", "token-from-merged")


def test_a_static_token_and_a_named_context(tmp_path: Path) -> None:
    config = clusters()
    config["contexts"].append({"name": "other", "context": {"cluster": "c", "user": "t"}})
    config["users"] = [{"name": "t", "user": {"token": "static"}}]
    access = load_access(write(tmp_path / "config", config), context="other")
    assert access.bearer() == "static"


def test_a_missing_or_broken_kubeconfig_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kubeconfig"):
        load_access(tmp_path / "absent")
    broken = write(tmp_path / "broken", {**clusters(), "current-context": "nope"})
    with pytest.raises(ConfigError, match="nope"):
        load_access(broken)
