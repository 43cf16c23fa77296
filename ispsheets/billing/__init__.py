"""Billing: periods, proration, tax, numbering and invoice planning (pure)."""
