"""Files a run writes one per invoice or message (PDFs, outbox emails): whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def replace_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` through `.<name>.tmp` and a rename, making the folder if missing.

    The temp name needs no randomness: one run at a time (the run lock) and one file per key,
    and a temp file left by a killed run is written over when that file is written again
    (`mkstemp` cost 0.1 ms a file). Raises OSError, with no temp file left behind.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        try:
            handle = open(tmp, "wb")  # noqa: SIM115
        except FileNotFoundError:  # no folder yet (or removed during the run)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(tmp, "wb")  # noqa: SIM115
        with handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
