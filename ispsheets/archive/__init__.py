"""Closed history moves to yearly archive workbooks (`archive/<workbook>-YYYY.xlsx`).

`plan` decides which rows move (pure), `rows` reads them with their `Tab!row` origins,
`parts` splits a year too big for one file into `-part2`, `-part3`… (no tab past `PART_ROWS`),
`move` carries them out key-first through the journal, `restore` brings an invoice back.
"""
