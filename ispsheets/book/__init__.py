"""The workbook: its schema, reading, validation and write-back."""
