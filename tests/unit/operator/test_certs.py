"""The webhook's self-made certificates, checked independently with the openssl CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

from motherboard.operator.certs import make_serving_certs


def test_the_serving_certificate_verifies_against_its_ca_for_every_name_the_api_server_uses(
    tmp_path: Path,
) -> None:
    certs = make_serving_certs(tmp_path / "webhook", ["motherboard-webhook.mb.svc", "localhost", "127.0.0.1"])
    verify = subprocess.run(
        ["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(certs.ca), str(certs.cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(certs.cert), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "DNS:motherboard-webhook.mb.svc" in text
        and "DNS:localhost" in text
        and "IP Address:127.0.0.1" in text
    )
    assert "TLS Web Server Authentication" in text and "Client Authentication" not in text
    assert certs.key.stat().st_mode & 0o077 == 0
