"""Each vendor's error body, so the mock answers errors exactly as the vendor would."""

from __future__ import annotations

from typing import Any

from pixelproof.mock.jsonresp import JSONResponse


class ApiError(Exception):
    """Raised anywhere in a handler; rendered in the dialect of the route that caught it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param


class Relayed(Exception):
    """An answer sent exactly as given (status, bytes, content type): how a faulty gateway
    passes an upstream's failure through instead of rendering its own error."""

    def __init__(self, status: int, body: bytes, media_type: str) -> None:
        super().__init__(f"relayed {status}")
        self.status, self.body, self.media_type = status, body, media_type


def openai_error(err: ApiError) -> JSONResponse:
    body = {
        "error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}
    }
    return JSONResponse(body, status_code=err.status)


_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
}


def google_error(err: ApiError) -> JSONResponse:
    status = _GOOGLE_STATUS.get(err.status, "UNKNOWN")
    body = {"error": {"code": err.status, "message": err.message, "status": status}}
    return JSONResponse(body, status_code=err.status)


def ark_error(err: ApiError) -> JSONResponse:
    body = {"error": {"code": err.code or err.type, "message": err.message}}
    return JSONResponse(body, status_code=err.status)


# Volcengine visual API codes: 10000 success; others are failures (subset used by the mock).
JIMENG_CODES = {400: 50400, 401: 50401, 404: 50404, 413: 50413, 429: 50429, 500: 50500}


def jimeng_error(err: ApiError, request_id: str = "") -> JSONResponse:
    body: dict[str, Any] = {
        "code": JIMENG_CODES.get(err.status, 50500),
        "message": err.message,
        "request_id": request_id,
        "data": None,
        "status": err.status,
    }
    return JSONResponse(body, status_code=err.status)


def official_error(err: ApiError) -> JSONResponse:
    body = {
        "code": err.status,
        "message": err.message,
        "error": {"code": err.code or err.type, "message": err.message},
    }
    return JSONResponse(body, status_code=err.status)
