"""An immutable resource vector in quota units: the one currency admission counts in.

Every request, quota and usage in admission is a :class:`Resources`: a mapping from a *quota resource* name
(``nvidia.com/gpu``, ``cpu``, ``memory``, ``huawei.com/Ascend910``) to an integer amount in that resource's
quota unit (milli-devices, millicores, bytes). Integers keep the arithmetic exact, so an invariant such as
"usage never exceeds nominal + borrowing limit" never fails on a rounding error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping


class Resources(Mapping[str, int]):
    """A frozen ``{quota resource: amount}`` vector; missing resources count as zero.

    Zero entries are dropped on construction so that equality and ``bool()`` mean what a reader expects:
    ``Resources({"cpu": 0}) == Resources()`` and an empty request is falsy.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, int] | Iterable[tuple[str, int]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, int] = {name: int(value) for name, value in pairs if value}

    # --- Mapping protocol -------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> int:
        return self._items[name]

    def get_amount(self, name: str) -> int:
        """The amount of ``name``, zero when absent (the common case in quota arithmetic)."""
        return self._items.get(name, 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Resources):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == {k: v for k, v in other.items() if v}
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v}" for k, v in sorted(self._items.items()))
        return f"Resources({{{inner}}})"

    # --- arithmetic -------------------------------------------------------------------------------------
    def __add__(self, other: Mapping[str, int]) -> Resources:
        out = dict(self._items)
        for name, value in other.items():
            out[name] = out.get(name, 0) + value
        return Resources(out)

    def __sub__(self, other: Mapping[str, int]) -> Resources:
        out = dict(self._items)
        for name, value in other.items():
            out[name] = out.get(name, 0) - value
        return Resources(out)

    def scaled(self, factor: int) -> Resources:
        """Every amount multiplied by ``factor`` (e.g. one pod's request times the gang's size)."""
        return Resources({name: value * factor for name, value in self._items.items()})

    def fits_in(self, capacity: Mapping[str, int]) -> bool:
        """Whether every amount is at most the same resource's amount in ``capacity`` (absent = 0)."""
        return all(value <= capacity.get(name, 0) for name, value in self._items.items())

    def only(self, names: Iterable[str]) -> Resources:
        """The vector restricted to ``names`` (e.g. to the resources some quota manages)."""
        keep = set(names)
        return Resources({k: v for k, v in self._items.items() if k in keep})

    @staticmethod
    def total(vectors: Iterable[Mapping[str, int]]) -> Resources:
        """The sum of many vectors (a gang's pods, a queue's admitted workloads)."""
        out: dict[str, int] = {}
        for vector in vectors:
            for name, value in vector.items():
                out[name] = out.get(name, 0) + value
        return Resources(out)
