"""ispsheets: billing automation for small ISPs that run their business from a spreadsheet."""

__version__ = "0.1.0"
