"""The dev cluster's throw-away certificate authorities and every certificate its components use.

File layout only; the keys and certificates are made by :mod:`motherboard.pki` (``cryptography``), the
same code that makes the operator's webhook certificate. Keys are ECDSA P-256 except the service-account
signing key, which is RSA because that is what most token consumers expect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from motherboard import pki as certs
from motherboard.pki import KeyPair


class PKIError(RuntimeError):
    """A key or certificate could not be made or written."""


@dataclass(frozen=True)
class PKI:
    """Every certificate and key file of one dev cluster."""

    dir: Path

    @property
    def ca(self) -> KeyPair:
        return KeyPair(self.dir / "ca.crt", self.dir / "ca.key")

    @property
    def front_proxy_ca(self) -> KeyPair:
        """A second CA, for the aggregation layer's request-header authentication (as kubeadm does)."""
        return KeyPair(self.dir / "front-proxy-ca.crt", self.dir / "front-proxy-ca.key")

    def pair(self, name: str) -> KeyPair:
        return KeyPair(self.dir / f"{name}.crt", self.dir / f"{name}.key")

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"


def make_ca(pki: PKI, common_name: str = "motherboard-dev-ca", ca: KeyPair | None = None) -> None:
    pki.dir.mkdir(parents=True, exist_ok=True)
    _guard(lambda: certs.make_ca(ca or pki.ca, common_name))


def make_leaf(
    pki: PKI,
    name: str,
    common_name: str,
    organizations: tuple[str, ...] = (),
    server_names: tuple[str, ...] = (),
    server_ips: tuple[str, ...] = (),
    ca: KeyPair | None = None,
) -> KeyPair:
    """Issue a client certificate signed by the CA, also a server certificate when names or IPs are given.

    For client certificates the API server takes the user name from CN and the groups from O, so
    ``organizations=("system:masters",)`` makes a cluster admin.
    """
    pair = pki.pair(name)
    hosts = (*server_names, *server_ips)
    _guard(lambda: certs.make_leaf(pair, ca or pki.ca, common_name, organizations=organizations, hosts=hosts))
    return pair


def make_service_account_keys(pki: PKI) -> None:
    """The key pair that signs service-account tokens (private: apiserver + controller-manager)."""
    _guard(lambda: certs.make_rsa_key_pair(pki.sa_key, pki.sa_pub))


def _guard(make: Callable[[], object]) -> None:
    try:
        make()
    except (OSError, ValueError) as exc:
        raise PKIError(f"could not make the dev cluster's certificates: {exc}") from exc
