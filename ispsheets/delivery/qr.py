"""QR codes for pay links: reportlab's encoder, with its mask choice scored by numpy.

reportlab's `QRCode.make()` tries the 8 mask patterns and keeps the one its penalty rules
score lowest; scoring them in pure Python was two thirds of a QR code's 4.9 ms, and a pay-link
invoice's QR code most of its 6.9 ms. `modules` makes the same code: reportlab builds each
trial matrix and the final one, and only the score of a trial is computed here, rule for rule
as reportlab's `QRUtil.getLostPoint` computes it (its quirks included: the finder-like pattern
is looked for along rows only, one way only, not in the last window of a row, and not again
inside a match).
tests/test_qr.py compares the matrices with reportlab's over many links.
"""

from __future__ import annotations

import functools
from typing import Any

from reportlab.graphics.barcode import qrencoder

FINDER_LIKE = (1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0)  # reportlab's rule 3 pattern


@functools.cache
def _numpy() -> Any:
    import numpy  # a dependency of pandas; imported only when a pay link needs a QR code

    return numpy


def lost_points(modules: list[list[bool]]) -> int:
    """reportlab's `QRUtil.getLostPoint` of a module matrix."""
    np = _numpy()
    m = np.array(modules, dtype=np.int8)
    # Rule 3 down the columns scores nothing in reportlab (it compares a column, a tuple,
    # with the pattern, a list), so it is not looked for here either.
    return _runs(m, np) + _runs(m.T, np) + _blocks(m) + _finder_like(m, np) + _balance(m)


def _runs(m: Any, np: Any) -> int:
    """Rule 1 down each column: a run of L ≥ 5 equal modules costs L - 2."""
    n = m.shape[0]
    change = np.ones((n + 1, m.shape[1]), dtype=bool)  # a run starts at 0, ends at n
    change[1:-1] = m[1:] != m[:-1]
    columns, starts = np.nonzero(change.T)  # column by column, top to bottom
    lengths = np.diff(starts)[columns[1:] == columns[:-1]]
    long = lengths[lengths >= 5]
    return int(long.sum()) - 2 * int(long.size)


def _blocks(m: Any) -> int:
    """Rule 2: each 2x2 block of one colour costs 3."""
    a, b, c, d = m[:-1, :-1], m[1:, :-1], m[:-1, 1:], m[1:, 1:]
    return 3 * int(((a == b) & (a == c) & (a == d)).sum())


def _finder_like(m: Any, np: Any) -> int:
    """Rule 3 along each row, as reportlab scans: windows starting before the last one, a
    match skipping the 11 modules it covers; 40 each."""
    n = m.shape[1]
    width = len(FINDER_LIKE)
    starts = n - width  # reportlab looks at j < n - 11
    if starts <= 0:
        return 0
    pattern = np.array(FINDER_LIKE, dtype=m.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(m, width, axis=1)[:, :starts]
    rows, columns = np.nonzero((windows == pattern).all(axis=2))
    score, row_now, free_from = 0, -1, 0
    for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
        if row != row_now:
            row_now, free_from = row, 0
        if column >= free_from:
            score += 40
            free_from = column + width
    return score


def _balance(m: Any) -> int:
    """Rule 4: how far the dark share is from half, in steps of 5 %."""
    cells = m.shape[0] * m.shape[1]
    dark = int(m.sum())
    return 10 * (abs(100 * dark // cells - 50) // 5)


class _QRCode(qrencoder.QRCode):
    def getBestMaskPattern(self) -> int:
        """reportlab's, with the trials scored by `lost_points`."""
        best, pattern = 0, 0
        for mask in range(8):
            self.makeImpl(True, mask)
            lost = lost_points(self.modules)
            if mask == 0 or best > lost:
                best, pattern = lost, mask
        return pattern


def _segment(data: str) -> qrencoder.QR:
    """reportlab's choice of mode (digits, then letters, then Kanji, then bytes), except that
    a text ending in a newline is never taken for digits or letters: reportlab's test lets `$`
    match before a final newline, and then cannot encode the newline."""
    narrow = () if data.endswith("\n") else (qrencoder.QRNumber, qrencoder.QRAlphaNum)
    for mode in (*narrow, qrencoder.QRKanji):
        try:
            return mode(data)
        except ValueError:
            pass
    return qrencoder.QR8bitByte(data)


def modules(data: str) -> list[list[bool]]:
    """The QR code matrix for `data` (error correction M), rows top to bottom: the matrix
    reportlab's encoder makes."""
    code = _QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(_segment(data))
    code.make()
    return [[bool(m) for m in row] for row in code.modules]
