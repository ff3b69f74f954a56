"""Who may read the run store through opsflow-web, and what browsers may load.

A loopback address needs no token; any other address needs one, read from
``[web] auth_token_file``, or opsflow-web refuses to start. With a token,
every request must carry it: ``Authorization: Bearer TOKEN`` (API clients)
or the cookie the login form sets (browsers). Every response carries a
Content-Security-Policy that lets a page load only what opsflow-web serves
itself, so the view works offline and never calls a third party.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opsflow.exceptions import ConfigurationError

__all__ = [
    "COOKIE",
    "SECURITY_HEADERS",
    "TokenCheck",
    "check_bind",
    "is_loopback",
    "read_token",
]

#: The cookie the login form sets: a digest of the token, never the token.
COOKIE = "opsflow_web_session"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "img-src 'self'; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback one."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(address).split("%")[0]).is_loopback
        for address in addresses
    )


def read_token(path: str) -> str:
    """The token in ``path`` (surrounding blanks dropped).

    :raises ConfigurationError: the file cannot be read or is empty (exit 78).
    """
    where = f"[web] auth_token_file {path}"
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            token = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigurationError(f"{where}: {reason or exc}") from exc
    if not token:
        raise ConfigurationError(f"{where}: the file holds no token")
    return token


def check_bind(host: str, token_file: str | None) -> str | None:
    """The token opsflow-web requires (None: none), checking the bind rule.

    :raises ConfigurationError: ``host`` is not a loopback address and no
        ``auth_token_file`` is set, or the token cannot be read (exit 78).
    """
    if token_file:
        return read_token(token_file)
    if not is_loopback(host):
        raise ConfigurationError(
            f"[web] host {host} is not a loopback address: set [web] "
            "auth_token_file to require a token, or listen on 127.0.0.1"
        )
    return None


def session_value(token: str) -> str:
    """What the login cookie holds for ``token``."""
    return hmac.new(token.encode(), b"opsflow-web session", hashlib.sha256).hexdigest()


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _cookie(scope: Scope, name: str) -> str:
    for part in _header(scope, b"cookie").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class TokenCheck:
    """ASGI middleware: the token rule, the security headers and the
    ``Server-Timing`` header (the time the server spent on the request)."""

    #: Reachable without the token: the login form and the assets it uses.
    OPEN_PATHS = ("/login", "/static/")

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        self.session = session_value(token) if token else None

    def allowed(self, scope: Scope) -> bool:
        """True when the request carries the token (or none is needed)."""
        if self.token is None or self.session is None:
            return True
        path = str(scope.get("path", ""))
        if path.startswith(self.OPEN_PATHS):
            return True
        bearer = _header(scope, b"authorization")
        if bearer.lower().startswith("bearer "):
            return hmac.compare_digest(bearer[7:].strip().encode(), self.token.encode())
        return hmac.compare_digest(
            _cookie(scope, COOKIE).encode(), self.session.encode()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - began) * 1000
                headers = list(message.get("headers", []))
                headers += [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                ]
                headers.append((b"server-timing", f"app;dur={elapsed:.2f}".encode()))
                message["headers"] = headers
            await send(message)

        if self.allowed(scope):
            await self.app(scope, receive, send_with_headers)
            return
        await _unauthorized(scope, send_with_headers)


async def _unauthorized(scope: Scope, send: Send) -> None:
    """401: JSON for the API, a pointer to the login form for pages."""
    import json

    path = str(scope.get("path", ""))
    if path.startswith("/api/"):
        body = json.dumps({"error": "a valid token is required"}).encode()
        kind = b"application/json"
    else:
        body = (
            b"<!doctype html><title>opsflow-web: sign in</title>"
            b'<p>A token is required: <a href="/login">sign in</a>.</p>'
        )
        kind = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="opsflow-web"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
