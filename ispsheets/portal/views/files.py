"""Files: a client's own invoice PDFs, the stylesheet in the company's colour, the logo."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from ispsheets.portal.context import Portal
from ispsheets.portal.documents import paid_copy
from ispsheets.portal.views.account import not_found

STATIC = Path(__file__).resolve().parent.parent / "static"


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


async def invoice_pdf(request: Request) -> Response:
    """The PDF of one of the signed-in client's invoices; anything else is 404, alike."""
    portal = _portal(request)
    client = portal.signed_in(request)
    number = request.path_params["number"]
    invoice = portal.view.invoice(client.client_id, number) if client else None
    if client is None or invoice is None or not invoice.pdf:
        return await not_found(request, LookupError(number))
    folder = portal.config.path(portal.config.invoicing.pdf_dir).resolve()
    path = (folder / invoice.pdf).resolve()
    if invoice.status == "paid":
        path = paid_copy(portal, client, invoice) or path
    elif path.parent != folder:
        return await not_found(request, LookupError(number))
    if not path.is_file():
        return await not_found(request, LookupError(number))
    return FileResponse(path, media_type="application/pdf", filename=invoice.pdf,
                        headers={"Cache-Control": "private, no-store"})


async def brand_css(request: Request) -> Response:
    colour = _portal(request).config.company.brand_color
    return Response(f":root {{ --brand: {colour}; }}\n", media_type="text/css",
                    headers={"Cache-Control": "public, max-age=300"})


async def portal_css(request: Request) -> Response:
    return FileResponse(STATIC / "portal.css", media_type="text/css",
                        headers={"Cache-Control": "public, max-age=300"})


async def logo(request: Request) -> Response:
    path = _portal(request).logo_path()
    if path is None:
        return await not_found(request, LookupError("logo"))
    return FileResponse(path, headers={"Cache-Control": "public, max-age=300"})


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")
