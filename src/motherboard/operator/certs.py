"""Self-signed serving certificates for the admission webhook, made at start-up.

The operator makes a small CA and a serving certificate for the names the API server will call it by, and
kopf publishes the CA in the webhook configuration's ``caBundle``. Nothing for the user to manage; a restart
makes new ones and republishes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from motherboard.pki import KeyPair, make_ca, make_leaf

VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class ServingCerts:
    ca: Path
    cert: Path
    key: Path


def make_serving_certs(directory: Path, hosts: list[str]) -> ServingCerts:
    """A CA and a serving certificate for ``hosts`` (DNS names or IPs), written into ``directory``."""
    ca = make_ca(KeyPair(directory / "ca.crt", directory / "ca.key"), "motherboard-webhook-ca", VALIDITY)
    leaf = make_leaf(
        KeyPair(directory / "tls.crt", directory / "tls.key"),
        ca,
        hosts[0],
        hosts=tuple(hosts),
        client=False,
        validity=VALIDITY,
    )
    return ServingCerts(ca.cert, leaf.cert, leaf.key)
