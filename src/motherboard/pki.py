"""Throw-away certificate authorities and the certificates they sign (``cryptography``), in PEM files.

Two users: the dev cluster's PKI (API server serving and client certificates, the front-proxy CA) and the
operator's webhook serving certificate. Keys are ECDSA P-256 (fast to generate, accepted by every
Kubernetes component), except service-account signing keys, which are RSA as most token consumers expect.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=825)
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


def make_ca(pair: KeyPair, common_name: str, validity: dt.timedelta = CA_VALIDITY) -> KeyPair:
    """A self-signed CA (may sign certificates, nothing else)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    _write(pair, _builder(name, name, key.public_key(), validity, ca=True).sign(key, hashes.SHA256()), key)
    return pair


def make_leaf(
    pair: KeyPair,
    ca: KeyPair,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    hosts: tuple[str, ...] = (),
    client: bool = True,
    validity: dt.timedelta = LEAF_VALIDITY,
) -> KeyPair:
    """A certificate signed by ``ca``: a server certificate for ``hosts`` (DNS names or IPs) when any are
    given, and a client certificate when ``client``.

    For client certificates the API server takes the user name from CN and the groups from O, so
    ``organizations=("system:masters",)`` makes a cluster admin.
    """
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{ca.key}: not an EC or RSA key")
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    subject = x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if hosts else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    builder = _builder(subject, ca_cert.subject, key.public_key(), validity, ca=False).add_extension(
        x509.ExtendedKeyUsage(usages), critical=False
    )
    if hosts:
        builder = builder.add_extension(_san(hosts), critical=False)
    _write(pair, builder.sign(ca_key, hashes.SHA256()), key)
    return pair


def make_rsa_key_pair(private: Path, public: Path, bits: int = 2048) -> None:
    """An RSA signing key (PKCS#8) and its public key (SubjectPublicKeyInfo), e.g. for service accounts."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    _write_key(private, key)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    validity: dt.timedelta,
    *,
    ca: bool,
) -> x509.CertificateBuilder:
    """Subject, issuer, validity and the constraints: a CA signs certificates only, a leaf signs and
    enciphers keys (TLS)."""
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
    )


def _san(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for host in hosts:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(entries)


def _write(pair: KeyPair, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    pair.cert.parent.mkdir(parents=True, exist_ok=True)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
