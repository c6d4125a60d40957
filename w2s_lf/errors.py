"""Errors a user can act on: each names the file, line and field at fault."""

from __future__ import annotations

from pathlib import Path


class W2SError(Exception):
    """A user-facing error. The CLI prints it on one line and exits with status 2."""


class InputError(W2SError):
    """Bad input data, located as precisely as we can: ``file:line: field: message``."""

    def __init__(self, message: str, path: str | Path | None = None,
                 line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = ""
        if path is not None:
            where = str(path) + (f":{line}" if line is not None else "") + ": "
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}{what}{message}")
