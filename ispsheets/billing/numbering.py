"""Invoice numbers: sequential, gap-free, formatted by `invoicing.number_format`."""

from __future__ import annotations

DEFAULT_FORMAT = "INV-{seq:05d}"


def format_number(fmt: str, seq: int) -> str:
    """`format_number("INV-{seq:05d}", 42)` → `INV-00042`."""
    return fmt.format(seq=seq)
