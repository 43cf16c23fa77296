"""Invoice numbers: sequential, gap-free, formatted by `invoicing.number_format`."""

from __future__ import annotations

DEFAULT_FORMAT = "INV-{seq:05d}"


def format_number(fmt: str, seq: int) -> str:
    """`format_number("INV-{seq:05d}", 42)` → `INV-00042`."""
    return fmt.format(seq=seq)


def parse_number(fmt: str, text: str) -> int | None:
    """The sequence number in `text` if it has the shape `fmt` gives (`INV-00042` → 42)."""
    import re

    pattern = re.sub(r"\\\{seq(?::[^}]*)?\\\}", r"(\\d+)", re.escape(fmt))
    found = re.fullmatch(pattern, text.strip())
    return int(found.group(1)) if found and found.groups() else None
