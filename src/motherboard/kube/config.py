"""Where the API server is and how to authenticate: kubeconfig files (read by the ``kubernetes`` package's
loader, as kubectl reads them) or the in-cluster service account."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

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
    token_source: Callable[[], str | None] | None = None
    """Where a kubeconfig user's token comes from (an exec plugin, an auth provider, a static token)."""

    def bearer(self) -> str | None:
        # Projected service-account tokens rotate: read the file on each use rather than once.
        if self.token_file is not None:
            return self.token_file.read_text().strip()
        if self.token_source is not None:
            return self.token_source()
        return self.token


def from_kubeconfig(paths: str | Path, context: str | None = None) -> ClusterAccess:
    """Cluster access as kubectl reads it, through the ``kubernetes`` package's maintained loader.

    ``paths``: one kubeconfig, or several joined like ``$KUBECONFIG`` (merged, the first value of a key
    wins). Users may authenticate with client certificates, a token, a token file, an ``exec`` plugin
    (what cloud clusters use: EKS, GKE, AKS) or an ``auth-provider``; exec and provider tokens are
    re-requested when they expire (``bearer()`` asks the loader's refresh hook on every request).
    """
    # Imported here: the package is heavy, and a pod with its service account never needs it.
    from kubernetes.client import Configuration
    from kubernetes.config import ConfigException, load_kube_config

    config = Configuration()
    try:
        load_kube_config(  # type: ignore[no-untyped-call]  # the package has no annotations
            config_file=str(paths), context=context, client_configuration=config, persist_config=False
        )
    except (ConfigException, OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"kubeconfig {paths}: {exc}") from exc
    tls = ssl.create_default_context(cafile=config.ssl_ca_cert)
    if not config.verify_ssl:
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    if config.cert_file and config.key_file:
        tls.load_cert_chain(config.cert_file, config.key_file)
    if not config.api_key.get("BearerToken"):
        return ClusterAccess(str(config.host).rstrip("/"), tls)
    return ClusterAccess(str(config.host).rstrip("/"), tls, token_source=partial(_bearer, config))


def _bearer(config: Any) -> str | None:
    # The loader's hook re-runs an exec plugin (or refreshes an OIDC token) once the token has expired.
    hook = config.refresh_api_key_hook
    if hook is not None:
        hook(config)
    value = config.api_key.get("BearerToken")
    return None if not value else str(value).removeprefix("Bearer ").strip()


def in_cluster() -> ClusterAccess:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    context_ssl = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT_DIR / "ca.crt"))
    return ClusterAccess(f"https://{host}:{port}", context_ssl, token_file=SERVICE_ACCOUNT_DIR / "token")


def load_access(kubeconfig: Path | None = None, context: str | None = None) -> ClusterAccess:
    """``--kubeconfig``, else every file of ``$KUBECONFIG`` (merged, as kubectl does), else in-cluster,
    else ``~/.kube/config``."""
    if kubeconfig is not None:
        return from_kubeconfig(kubeconfig, context)
    if os.environ.get("KUBECONFIG"):
        return from_kubeconfig(os.environ["KUBECONFIG"], context)
    if "KUBERNETES_SERVICE_HOST" in os.environ and (SERVICE_ACCOUNT_DIR / "token").exists():
        return in_cluster()
    default = Path.home() / ".kube" / "config"
    if default.exists():
        return from_kubeconfig(default, context)
    raise ConfigError("no cluster access: pass --kubeconfig, set KUBECONFIG, or run in a pod")
