"""How fast this machine is right now, as one number to print beside a benchmark's times.

The machines this project is measured on differ up to 3x in speed from one session to the next
(and, on a shared host, from one hour to the next), so a time means little without the speed it
was measured at. `reference_ms` times a fixed piece of work made of what a run does most:
Decimal sums and rounding, dict lookups, string formatting and zlib's deflate, in one thread.
Compare results by ratios measured in one session; the reference says how far apart two
sessions' machines were (a run measured at 80 ms compares with one at 160 ms by about 2x).

    .venv/bin/python bench/machine.py        # prints the reference, median of 7
"""

from __future__ import annotations

import statistics
import time
import zlib
from decimal import ROUND_HALF_UP, Decimal

_CENT = Decimal("0.01")
_TEXT = "".join(f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>INV-{i:06d}</t></is></c></row>'
                for i in range(4000)).encode()


def _work() -> int:
    """A fixed mix: 48 ms on this project's 2-core machine on 2026-12-04, at load 0."""
    total = Decimal(0)
    seen: dict[str, Decimal] = {}
    for i in range(48000):
        amount = (Decimal(i % 977) * Decimal("1.0825")).quantize(_CENT, ROUND_HALF_UP)
        key = f"C{i % 2000:05d}"
        seen[key] = seen.get(key, Decimal(0)) + amount
        total += amount
    packed = zlib.compress(_TEXT * 16, 1)
    return len(seen) + len(packed) + int(total)


def reference_ms(repeats: int = 7) -> float:
    """The median wall time of the fixed work, in ms (lower is faster)."""
    _work()  # warm: imports, caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        _work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    print(f"machine reference: {reference_ms():.1f} ms (median of 7; lower is faster)")
