"""Pay-link QR codes: the matrix reportlab's encoder makes, its mask chosen by numpy-scored
penalties equal to reportlab's own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.graphics.barcode import qrencoder

from ispsheets.delivery import qr
from ispsheets.delivery.pdf import qr_modules


def reportlab_modules(data: str | qrencoder.QR) -> list[list[bool]]:
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(data)
    code.make()
    return [[bool(m) for m in row] for row in code.modules]


_URL = st.text(st.sampled_from("abcxyzABC0123456789-_./?=&%#:~"), min_size=0, max_size=300)


@settings(max_examples=80, deadline=None)
@given(path=_URL)
def test_a_pay_link_gets_the_code_reportlab_makes(path):
    link = "https://pay.example.com/i/" + path
    assert qr_modules(link) == reportlab_modules(link)


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=120))
def test_any_text_gets_the_code_reportlab_makes(text):
    if text.endswith("\n"):  # reportlab takes "12\n" for digits and fails: see the next test
        assert qr.modules(text) == reportlab_modules(qrencoder.QR8bitByte(text))
    else:
        assert qr.modules(text) == reportlab_modules(text)


@pytest.mark.parametrize("text", ["\n", "12\n", "ABC 12\n"])
def test_a_text_ending_in_a_newline_is_encoded_as_bytes(text):
    with pytest.raises(ValueError):
        reportlab_modules(text)  # its mode test lets `$` match before the newline
    assert qr.modules(text) == reportlab_modules(qrencoder.QR8bitByte(text))


@pytest.mark.parametrize("data", ["https://pay.example.com/i/INV-00042", "x" * 200, "",
                                  "https://portal.example.net/pay?i=INV-12345&t=abcdef0123"])
def test_each_masks_penalty_is_reportlabs(data):
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(data)
    code.make()
    scores = []
    for mask in range(8):
        code.makeImpl(True, mask)
        scores.append(qr.lost_points(code.modules))
        assert scores[-1] == qrencoder.QRUtil.getLostPoint(code), mask
    assert len(set(scores)) > 1  # the masks differ, so the choice is a real one


class _Matrix:
    def __init__(self, modules: list[list[bool]]) -> None:
        self.modules = modules


@settings(max_examples=50, deadline=None)
@given(size=st.integers(min_value=12, max_value=45), seed=st.randoms(use_true_random=False),
       finder_like=st.lists(st.tuples(st.integers(0, 44), st.integers(0, 44)), max_size=6))
def test_penalties_of_any_matrix_are_reportlabs(size, seed, finder_like):
    """Any square of modules, with finder-like runs put anywhere (the last window of a row
    included), scores what reportlab's rules score."""
    modules = [[seed.random() < 0.5 for _ in range(size)] for _ in range(size)]
    for row, column in finder_like:
        row, column = row % size, column % (size - len(qr.FINDER_LIKE) + 1)
        modules[row][column:column + len(qr.FINDER_LIKE)] = [bool(b) for b in qr.FINDER_LIKE]
    assert qr.lost_points(modules) == qrencoder.QRUtil.getLostPoint(_Matrix(modules))
