"""Dev cluster certificates (made by motherboard.pki), checked independently with the openssl CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

from motherboard.devcluster.pki import PKI, make_ca, make_leaf, make_service_account_keys


def _text(cert: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"], capture_output=True, text=True, check=True
    ).stdout


def test_admin_client_and_serving_certificates_verify_against_the_ca(tmp_path: Path) -> None:
    pki = PKI(tmp_path)
    make_ca(pki)
    admin = make_leaf(pki, "admin", "motherboard-admin", organizations=("system:masters",))
    serving = make_leaf(pki, "api", "kube-apiserver", server_names=("localhost",), server_ips=("127.0.0.1",))
    for pair in (admin, serving):
        verify = subprocess.run(
            ["openssl", "verify", "-CAfile", str(pki.ca.cert), str(pair.cert)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert verify.returncode == 0, verify.stderr
        assert pair.key.stat().st_mode & 0o077 == 0  # private keys are not world-readable
    admin_text = _text(admin.cert)
    assert "O = system:masters" in admin_text and "CN = motherboard-admin" in admin_text
    assert "TLS Web Client Authentication" in admin_text and "Subject Alternative Name" not in admin_text
    serving_text = _text(serving.cert)
    assert "DNS:localhost" in serving_text and "IP Address:127.0.0.1" in serving_text
    assert "TLS Web Server Authentication" in serving_text
    assert "CA:TRUE" in _text(pki.ca.cert)


def test_service_account_key_pair(tmp_path: Path) -> None:
    pki = PKI(tmp_path)
    make_service_account_keys(pki)
    assert "BEGIN PRIVATE KEY" in pki.sa_key.read_text()
    assert "BEGIN PUBLIC KEY" in pki.sa_pub.read_text()
