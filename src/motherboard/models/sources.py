"""Read a Model version's source into a local file: ``file://`` and ``http(s)://`` here.

ConfigMap and PersistentVolumeClaim sources need the Kubernetes API or a volume mount; the operator
resolves them (it reads the ConfigMap's bytes, or mounts the claim into the compile Job) and hands this
layer a local file, so the model layer stays free of Kubernetes clients.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from motherboard.models.errors import ModelError
from motherboard.models.importer import DEFAULT_MAX_BYTES

_CHUNK = 1 << 20


def local_path(uri: str, dest: Path, max_bytes: int = DEFAULT_MAX_BYTES, timeout_s: float = 60) -> Path:
    """A local file with the content of ``uri``: the path itself for ``file://``, else a download to ``dest``.

    Downloads stream with a size limit (a server that lies about ``Content-Length`` is cut off at the limit)
    and are written to ``dest`` through a temporary file, so a failed download leaves nothing behind.
    """
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        path = Path(urllib.parse.unquote(parsed.path))
        if not path.exists():
            raise ModelError(f"source.uri {uri}: no such file on this machine")
        return path
    if parsed.scheme not in ("http", "https"):
        raise ModelError(f"source.uri {uri}: the scheme must be file://, http:// or https://")
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(uri, timeout=timeout_s) as response, tmp.open("wb") as out:
            declared = response.headers.get("Content-Length")
            if declared and int(declared) > max_bytes:
                raise ModelError(
                    f"source.uri {uri}: {int(declared):,} bytes is over the limit of {max_bytes:,}"
                )
            total = 0
            while chunk := response.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise ModelError(f"source.uri {uri}: more than the limit of {max_bytes:,} bytes")
                out.write(chunk)
        shutil.move(tmp, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(f"source.uri {uri}: cannot be read ({reason})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest
