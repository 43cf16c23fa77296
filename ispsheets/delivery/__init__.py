"""Delivery: PDF invoices and email."""
