"""Who may read the run store through opsflow-web, and what browsers may load.

A loopback address needs no token; any other address needs one, read from
``[web] auth_token_file``, or opsflow-web refuses to start. With a token,
every request must carry it: ``Authorization: Bearer TOKEN`` (API clients)
or the cookie the login form sets (browsers), which expires after
:data:`SESSION_SECONDS`. Without a token, only requests naming a loopback
host (or the configured one) in their ``Host`` header are answered: a web
page elsewhere cannot rebind its own name to 127.0.0.1 and read the runs.
Every response carries a Content-Security-Policy that lets a page load only
what opsflow-web serves itself, so the view works offline and never calls
a third party.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
import stat
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opsflow.exceptions import ConfigurationError

__all__ = [
    "COOKIE",
    "SECURITY_HEADERS",
    "SESSION_SECONDS",
    "TokenCheck",
    "check_bind",
    "is_loopback",
    "read_token",
    "session_valid",
    "session_value",
]

#: The cookie the login form sets: a digest of the token, never the token.
COOKIE = "opsflow_web_session"
#: How long a sign-in lasts.
SESSION_SECONDS = 12 * 3600

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

    :raises ConfigurationError: the file cannot be read, is empty, or its
        group or others have any access to it (exit 78).
    """
    where = f"[web] auth_token_file {path}"
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            token = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigurationError(f"{where}: {reason or exc}") from exc
    if mode & 0o077:  # as ssh refuses a private key others can read
        raise ConfigurationError(
            f"{where}: mode {stat.S_IMODE(mode):04o} gives others access to it: "
            f"chmod 600 {path}"
        )
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


def session_value(token: str, expires: int) -> str:
    """What the login cookie holds for ``token`` until ``expires`` (epoch
    seconds): the expiry and a digest of it keyed by the token."""
    digest = hmac.new(
        token.encode(), f"opsflow-web session {expires}".encode(), hashlib.sha256
    ).hexdigest()
    return f"{expires}.{digest}"


def session_valid(token: str, value: str, now: float | None = None) -> bool:
    """True when ``value`` is a cookie :func:`session_value` made for
    ``token`` that has not expired."""
    expires, _, _digest = value.partition(".")
    if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
        return False
    if int(expires) <= (time.time() if now is None else now):
        return False
    return hmac.compare_digest(
        value.encode(), session_value(token, int(expires)).encode()
    )


def host_of(header: str) -> str:
    """The host name of a ``Host`` header, without its port or brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") > 1:  # a bare IPv6 address
        return header
    return header.partition(":")[0]


def answered_names(configured: str | None) -> frozenset[str]:
    """Host names answered without a token: loopback ones, and ``configured``."""
    names = {"localhost", "::1"}
    if configured:
        names.add(host_of(configured) if configured.startswith("[") else configured)
    return frozenset(name.lower() for name in names)


def _loopback_address(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


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

    def __init__(
        self, app: ASGIApp, token: str | None, host: str | None = None
    ) -> None:
        self.app = app
        self.token = token
        self.names = answered_names(host)

    def host_allowed(self, scope: Scope) -> bool:
        """With a token, any host; without, loopback names and the configured one."""
        if self.token is not None:
            return True
        name = host_of(_header(scope, b"host"))
        return name in self.names or _loopback_address(name)

    def allowed(self, scope: Scope) -> bool:
        """True when the request carries the token (or none is needed)."""
        if self.token is None:
            return True
        path = str(scope.get("path", ""))
        if path.startswith(self.OPEN_PATHS):
            return True
        bearer = _header(scope, b"authorization")
        if bearer.lower().startswith("bearer "):
            return hmac.compare_digest(bearer[7:].strip().encode(), self.token.encode())
        return session_valid(self.token, _cookie(scope, COOKIE))

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

        if not self.host_allowed(scope):
            await _misdirected(send_with_headers)
        elif self.allowed(scope):
            await self.app(scope, receive, send_with_headers)
        else:
            await _unauthorized(scope, send_with_headers)


async def _misdirected(send: Send) -> None:
    """421: a request for a host name this view does not answer to."""
    import json

    body = json.dumps(
        {"error": "this host name is not served without a token: use 127.0.0.1"}
    ).encode()
    await _answer(send, 421, body, b"application/json")


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
    await _answer(
        send, 401, body, kind, [(b"www-authenticate", b'Bearer realm="opsflow-web"')]
    )


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    kind: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
