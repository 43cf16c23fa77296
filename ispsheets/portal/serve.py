"""`ispsheets portal`: the app served by uvicorn, one process, logging to logs/portal.log.

uvicorn because the portal is an ASGI app (Starlette) and uvicorn serves it with no other
moving part: one process handles many clients at once with asyncio, and behind the owner's
HTTPS proxy it takes the client's address from X-Forwarded-For (trusted from 127.0.0.1 only).
"""

from __future__ import annotations

import gc
import logging
from logging.handlers import RotatingFileHandler

from ispsheets.config import Config
from ispsheets.logs import FORMAT


def _log_to_file(config: Config) -> None:
    logger = logging.getLogger("ispsheets.portal")
    logger.setLevel(logging.INFO)
    folder = config.path(config.paths.logs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = RotatingFileHandler(
            folder / "portal.log", maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    logger.propagate = False


def serve(config: Config, host: str, port: int) -> None:
    """Serve until stopped (Ctrl-C or SIGTERM). Raises PortalSetupError before listening."""
    import uvicorn

    from ispsheets.portal.app import create_app

    gc.enable()  # a server lives long: its cycles must be collected
    app = create_app(config)
    _log_to_file(config)
    uvicorn.run(app, host=host, port=port, access_log=False, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", server_header=False, log_level="warning")
