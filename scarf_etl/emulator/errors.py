"""The one error type handlers raise; the app turns it into a JSON response."""

from __future__ import annotations


class ApiError(Exception):
    """An API error: HTTP status, a message for humans, and an optional machine `code`."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        body = {"message": self.message}
        if self.code is not None:
            body["code"] = self.code
        return body


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found", "not-found")


def bad_request(message: str, code: str | None = None) -> ApiError:
    return ApiError(400, message, code)


def forbidden(message: str, code: str | None = None) -> ApiError:
    return ApiError(403, message, code)
