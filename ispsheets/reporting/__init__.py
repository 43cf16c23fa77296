"""Reporting: report workbooks and the status summary."""
