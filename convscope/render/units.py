"""Human units: K/M/G for counts (powers of 1000), KiB/MiB/GiB for bytes (powers of 1024)."""
from __future__ import annotations


def count(value: int) -> str:
    """``25557032`` -> ``25.56 M``; small numbers keep thousands separators."""
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(value) >= scale:
            return f"{value / scale:,.2f} {unit}"
    return f"{value:,}"


def nbytes(value: int) -> str:
    """``3211264`` -> ``3.06 MiB``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{value / scale:,.2f} {unit}"
    return f"{value:,} B"


def shape(dims) -> str:
    if dims and isinstance(dims[0], (list, tuple)):
        return ", ".join(shape(d) for d in dims)
    return "[" + ", ".join(str(d) for d in dims) + "]"
