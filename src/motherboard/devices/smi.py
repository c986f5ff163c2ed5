"""Small parsers and health helpers shared by the backends that read a vendor's ``*-smi`` text output.

The AMD, Kunlunxin and MetaX tools print indented ``KEY: value`` blocks or boxed tables; these helpers keep
the per-vendor parsers short and make "a device vanished from the tool's output" mean the same thing
everywhere: the device is unhealthy (the kubelet stops counting it) until it comes back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from motherboard.devices.model import Health

_FIELD = re.compile(r"^(?P<indent>\s+)(?P<key>[^:]+?)\s*:\s*(?P<value>.*?)\s*$")


def parse_blocks(text: str, header: re.Pattern[str]) -> dict[int, dict[str, str]]:
    """``{block number: {"SECTION/KEY": value}}`` from indented ``KEY: value`` blocks.

    A block starts at a line matching ``header`` (its group 1 is the number), at the margin; deeper lines
    belong to the section above them. Lines at the margin that do not match (another kind of block, or
    ``...`` where a tool elides output) close the current block.
    """
    blocks: dict[int, dict[str, str]] = {}
    fields: dict[str, str] | None = None
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            found = header.match(line)
            fields, stack = (blocks.setdefault(int(found.group(1)), {}), []) if found else (None, [])
            continue
        entry = _FIELD.match(line)
        if fields is None or entry is None:
            continue
        indent = len(entry["indent"].expandtabs())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([name for _, name in stack] + [entry["key"]])
        if entry["value"]:
            fields.setdefault(path, entry["value"])
        stack.append((indent, entry["key"]))
    return blocks


def known_value(value: str | None) -> str | None:
    """``None`` for the placeholders the tools print when a field is unsupported (``N/A``, ``UNKNOWN``)."""
    if value is None or value.strip().upper() in {"", "N/A", "NA", "UNKNOWN"}:
        return None
    return value.strip()


def presence_health(known: Iterable[str], current: Mapping[str, Health]) -> dict[str, Health]:
    """Health of every id seen so far: as the tool reports it now, or unhealthy when it no longer lists it."""
    return {i: Health.UNHEALTHY for i in known} | dict(current)
