"""Pay-link QR codes: the matrix reportlab's encoder makes, its mask chosen by numpy-scored
penalties equal to reportlab's own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.graphics.barcode import qrencoder

from ispsheets.delivery import qr
from ispsheets.delivery.pdf import qr_modules


def reportlab_modules(data: str) -> list[list[bool]]:
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(data)
    code.make()
    return [[bool(m) for m in row] for row in code.modules]


_URL = st.text(st.sampled_from("abcxyzABC0123456789-_./?=&%#:~"), min_size=0, max_size=300)


@settings(max_examples=150, deadline=None)
@given(path=_URL)
def test_a_pay_link_gets_the_code_reportlab_makes(path):
    link = "https://pay.example.com/i/" + path
    assert qr_modules(link) == reportlab_modules(link)


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=120))
def test_any_text_gets_the_code_reportlab_makes(text):
    assert qr.modules(text) == reportlab_modules(text)


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
