"""Human units: K/M/G for counts (powers of 1000), KiB/MiB/GiB for bytes (powers of 1024)."""
from __future__ import annotations


def count(value: int) -> str:
    """``25557032`` -> ``25.56 M``; small numbers keep thousands separators."""
    return _scaled(value, (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)),
                   f"{value:,}")


def nbytes(value: int) -> str:
    """``3211264`` -> ``3.06 MiB``."""
    return _scaled(value, (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)), f"{value:,} B")


def shape(dims) -> str:
    if dims and isinstance(dims[0], (list, tuple)):
        return ", ".join(shape(d) for d in dims)
    return "[" + ", ".join(str(d) for d in dims) + "]"


def _scaled(value: int, units: tuple[tuple[str, int], ...], plain: str) -> str:
    """``value`` in the largest unit it reaches, counting what the next unit down would round up
    to it: 999,999 is 1,000.00 K to 2 decimals, so it reads ``1.00 M``; 1,048,575 bytes read
    ``1.00 MiB``, not ``1,024.00 KiB``. Below the smallest unit, ``plain``."""
    for i, (unit, scale) in enumerate(units):
        below = units[i + 1][1] if i + 1 < len(units) else None
        if abs(value) >= (scale if below is None else scale - below * 0.005):
            return f"{value / scale:,.2f} {unit}"
    return plain
