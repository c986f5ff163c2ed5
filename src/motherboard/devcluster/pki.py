"""A throw-away certificate authority for the dev cluster, made with the ``openssl`` CLI.

The ``openssl`` binary is on every Linux and macOS machine, which spares the project a ``cryptography``
dependency for a development tool. Keys are ECDSA P-256 (fast to generate, accepted by every component)
except the service-account signing key, which is RSA because that is what most token consumers expect.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CA_DAYS = 3650
LEAF_DAYS = 825


class PKIError(RuntimeError):
    """openssl is missing or refused to make a key or certificate."""


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


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


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise PKIError("the openssl CLI is not on PATH; it is needed to make the dev cluster's certificates")
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PKIError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _ec_key(path: Path) -> None:
    _openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        str(path),
        cwd=path.parent,
    )
    path.chmod(0o600)


def make_ca(pki: PKI, common_name: str = "motherboard-dev-ca", ca: KeyPair | None = None) -> None:
    ca = ca or pki.ca
    pki.dir.mkdir(parents=True, exist_ok=True)
    _ec_key(ca.key)
    _openssl(
        "req", "-x509", "-new", "-key", str(ca.key), "-out", str(ca.cert), "-days", str(CA_DAYS),
        "-subj", f"/CN={common_name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=pki.dir,
    )  # fmt: skip


def make_leaf(
    pki: PKI,
    name: str,
    common_name: str,
    organizations: tuple[str, ...] = (),
    server_names: tuple[str, ...] = (),
    server_ips: tuple[str, ...] = (),
    ca: KeyPair | None = None,
) -> KeyPair:
    """Issue a certificate signed by the CA.

    For client certificates the API server takes the user name from CN and the groups from O, so
    ``organizations=("system:masters",)`` makes a cluster admin.
    """
    ca = ca or pki.ca
    pair = pki.pair(name)
    _ec_key(pair.key)
    csr = pki.dir / f"{name}.csr"
    subject = "".join(f"/O={org}" for org in organizations) + f"/CN={common_name}"
    _openssl("req", "-new", "-key", str(pair.key), "-out", str(csr), "-subj", subject, cwd=pki.dir)
    usages = ["clientAuth"]
    lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
    sans = [f"DNS:{n}" for n in server_names] + [f"IP:{ip}" for ip in server_ips]
    if sans:
        usages.insert(0, "serverAuth")
        lines.append("subjectAltName=" + ",".join(sans))
    lines.append("extendedKeyUsage=" + ",".join(usages))
    ext = pki.dir / f"{name}.ext"
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-out", str(pair.cert), "-days", str(LEAF_DAYS), "-extfile", str(ext),
        cwd=pki.dir,
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    return pair


def make_service_account_keys(pki: PKI) -> None:
    """The key pair that signs service-account tokens (private: apiserver + controller-manager)."""
    _openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        str(pki.sa_key),
        cwd=pki.dir,
    )
    pki.sa_key.chmod(0o600)
    _openssl("pkey", "-in", str(pki.sa_key), "-pubout", "-out", str(pki.sa_pub), cwd=pki.dir)
