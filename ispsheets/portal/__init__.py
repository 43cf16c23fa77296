"""The client portal: balance, invoices, payments and autopay, behind a password-less sign-in.

`app.create_app(config)` is the ASGI app; `serve.serve(config, host, port)` runs it with
uvicorn. Runs publish what it shows (`view.py`); what clients do is kept in its own store
(`store.py`) and picked up by the next run (`ispsheets.steps.portal`).
"""
