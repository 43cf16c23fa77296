"""The owner's suspend and restore commands: filled in safely, run with a timeout.

A template is a shell command line with placeholders such as `{client_id}` or `{name}`. Every
value is `shlex.quote`d, so a client named `x; rm -rf /` stays one harmless word. A placeholder
inside '…' or "…" (the command for `ssh` to run on the router) is quoted for both layers: the
remote shell sees the shlex-quoted word and the local shell passes it through untouched.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ispsheets.book.records import Client

CLIENT_FIELDS = ("client_id", "name", "email", "emails", "phone", "address", "status")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_OUTPUT_LIMIT = 4000
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})


def client_fields(client: Client) -> dict[str, str]:
    """The values a command can use: `{email}` is the first address, `{emails}` all of them."""
    return {"client_id": client.client_id, "name": client.name,
            "email": client.emails[0] if client.emails else "",
            "emails": ",".join(client.emails), "phone": client.phone,
            "address": client.address, "status": client.status}


def template_fields(template: str) -> tuple[str, ...]:
    """The placeholder names a template uses, in order of first appearance."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(template)))


def unknown_fields(template: str, extra: tuple[str, ...] = ("service_ids",)) -> tuple[str, ...]:
    """Placeholders that neither a client nor `extra` fills (for checking config.yaml)."""
    allowed = set(CLIENT_FIELDS) | set(extra)
    return tuple(name for name in template_fields(template) if name not in allowed)


def _contexts(template: str) -> list[str]:
    """The POSIX-shell quoting context before each character: `bare`, `single` or `double`."""
    contexts, state, escaped = [], "bare", False
    for char in template:
        contexts.append(state)
        if escaped:
            escaped = False
        elif state == "single":
            state = "bare" if char == "'" else state
        elif char == "\\":
            escaped = True
        elif state == "bare" and char in "'\"":
            state = "single" if char == "'" else "double"
        elif state == "double" and char == '"':
            state = "bare"
    return contexts


def _quoted(value: str, context: str) -> str:
    word = shlex.quote(value)
    if context == "single":
        return word.replace("'", "'\\''")
    if context == "double":
        return re.sub(r'([\\"$`])', r"\\\1", word)
    return word


def render_command(template: str, client: Client, extra: Mapping[str, str] = _NO_EXTRA) -> str:
    """Fill a command template with the client's values (and `extra`, e.g. `service_ids`).

    Raises ValueError naming a placeholder nothing fills, so a typo never runs half a command.
    """
    values = {**client_fields(client), **extra}
    missing = [name for name in template_fields(template) if name not in values]
    if missing:
        raise ValueError(f"unknown placeholder {{{missing[0]}}} in command {template!r}; use "
                         + ", ".join(f"{{{n}}}" for n in values))
    contexts = _contexts(template)
    return _PLACEHOLDER.sub(
        lambda m: _quoted(str(values[m.group(1)]), contexts[m.start()]), template)


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    exit_code: int | None  # None when it never finished (timeout) or never started
    output: str  # stdout and stderr together, at most the last 4000 characters
    detail: str  # one line for the Activity tab


def run_command(command: str, timeout_seconds: float, cwd: Path | None = None) -> CommandResult:
    """Run a command line through the shell (in `cwd`) with a timeout; never raises.

    A non-zero exit, a timeout (the whole process group is killed) or a command that cannot
    start is a failure with a detail saying which. An empty command does nothing and is ok.
    """
    if not command.strip():
        return CommandResult(True, None, "", "no command configured")
    try:
        process = subprocess.Popen(command, shell=True, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=cwd)
    except OSError as exc:
        return CommandResult(False, None, "", f"could not start the command: {exc}")
    try:
        raw, _ = process.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raw, _ = process.communicate()
        return CommandResult(False, None, _text(raw),
                             f"timed out after {timeout_seconds:g} s and was stopped")
    output = _text(raw)
    if process.returncode != 0:
        last = output.strip().splitlines()[-1:] or [""]
        detail = f"exit status {process.returncode}" + (f": {last[0]}" if last[0] else "")
        return CommandResult(False, process.returncode, output, detail)
    return CommandResult(True, 0, output, "ok")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        process.kill()


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", errors="replace")[-_OUTPUT_LIMIT:]
