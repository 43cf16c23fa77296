"""`ispsheets recover-journal`: rebuild a lost or damaged journal from the workbook.

The workbook holds everything the tool wrote: Invoices and InvoiceLines (numbers, what each
invoice billed), Charges (which rows were billed, the tool's fee rows), Payments (ids, what was
applied) and Activity (what was sent, fined, suspended, reconnected). `plan_recovery` reads
those back into what a run consults in the journal, so that after recovery a run never
re-numbers, re-bills, re-emails or re-fees anything:

- invoices with their lines, the next invoice number, voided ones;
- billed keys: service periods (with the full-period days a later credit needs), setup fees,
  credits for unused days, Charges rows; days inside a service's billed range that no invoice
  billed (waived while suspended) stay unbilled for good;
- messages: invoice emails (Invoices.sent_at or Activity `invoice_sent`), receipts;
- actions: reminder stages (Activity and Invoices.reminder_stage), late fees (Activity and the
  `Late fee for INV-…` rows), suspensions and reconnections, payments already applied; the
  emails and commands those queued count as done;
- the tool's own rows (fee Charges rows), Activity, and the workbook's write generation.

`plan.py` plans (pure); `write.py` writes a new journal beside the old file and swaps it in,
keeping the old one under another name.
"""
