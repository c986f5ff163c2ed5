"""Where the API server is and how to authenticate: a kubeconfig file or the in-cluster service account."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(RuntimeError):
    """No usable cluster access: the message says what was looked for."""


@dataclass(frozen=True)
class ClusterAccess:
    """The API server URL, a TLS context and an optional bearer token file or value."""

    server: str
    ssl_context: ssl.SSLContext
    token: str | None = None
    token_file: Path | None = None

    def bearer(self) -> str | None:
        # Projected service-account tokens rotate: read the file on each use rather than once.
        if self.token_file is not None:
            return self.token_file.read_text().strip()
        return self.token


def _materialise(entry: dict[str, Any], key: str, base: Path) -> str | None:
    """A kubeconfig ``key`` or ``key-data`` entry as a file path (data is written to a private temp file)."""
    if entry.get(key):
        path = Path(entry[key])
        return str(path if path.is_absolute() else base / path)
    data = entry.get(f"{key}-data")
    if not data:
        return None
    handle = tempfile.NamedTemporaryFile(prefix="mb-kube-", delete=False)  # noqa: SIM115 - kept for ssl
    handle.write(base64.b64decode(data))
    handle.close()
    os.chmod(handle.name, 0o600)
    return handle.name


def from_kubeconfig(path: Path, context: str | None = None) -> ClusterAccess:
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
    name = context or config.get("current-context")
    contexts = {c["name"]: c["context"] for c in config.get("contexts", [])}
    if name not in contexts:
        raise ConfigError(f"kubeconfig {path}: context {name!r} not found")
    ctx = contexts[name]
    cluster = {c["name"]: c["cluster"] for c in config.get("clusters", [])}[ctx["cluster"]]
    user = {u["name"]: u["user"] for u in config.get("users", [])}.get(ctx.get("user"), {})
    base = path.parent
    ca = _materialise(cluster, "certificate-authority", base)
    context_ssl = ssl.create_default_context(cafile=ca)
    if cluster.get("insecure-skip-tls-verify"):
        context_ssl.check_hostname = False
        context_ssl.verify_mode = ssl.CERT_NONE
    cert = _materialise(user, "client-certificate", base)
    key = _materialise(user, "client-key", base)
    if cert and key:
        context_ssl.load_cert_chain(cert, key)
    token_file = Path(user["tokenFile"]) if user.get("tokenFile") else None
    return ClusterAccess(cluster["server"].rstrip("/"), context_ssl, user.get("token"), token_file)


def in_cluster() -> ClusterAccess:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    context_ssl = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT_DIR / "ca.crt"))
    return ClusterAccess(f"https://{host}:{port}", context_ssl, token_file=SERVICE_ACCOUNT_DIR / "token")


def load_access(kubeconfig: Path | None = None) -> ClusterAccess:
    """``--kubeconfig``, else ``$KUBECONFIG``, else in-cluster, else ``~/.kube/config``."""
    if kubeconfig is not None:
        return from_kubeconfig(kubeconfig)
    if os.environ.get("KUBECONFIG"):
        return from_kubeconfig(Path(os.environ["KUBECONFIG"].split(os.pathsep)[0]))
    if "KUBERNETES_SERVICE_HOST" in os.environ and (SERVICE_ACCOUNT_DIR / "token").exists():
        return in_cluster()
    default = Path.home() / ".kube" / "config"
    if default.exists():
        return from_kubeconfig(default)
    raise ConfigError("no cluster access: pass --kubeconfig, set KUBECONFIG, or run in a pod")
