"""Payments: allocation of payments to invoices, credit and balances."""
