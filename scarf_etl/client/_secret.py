"""Keeps the token out of every text the client produces."""

from __future__ import annotations

import re

REDACTED = "[redacted]"
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


class Redactor:
    """Holds the token and scrubs it (and any Bearer credential) out of text."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    @property
    def token(self) -> str:
        return self._token

    def scrub(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, REDACTED)
        return _BEARER.sub(rf"\g<1>{REDACTED}", text)

    def __repr__(self) -> str:
        return f"Redactor({REDACTED})"

    __str__ = __repr__
