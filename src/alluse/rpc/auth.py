"""Who may use the API: a bearer token for every control, and for everything when the server is reachable
from beyond this machine.

The token is made at the first start into `DIR/api.token`, created with mode 0600 (never readable by another
user, even for an instant), and printed once; `alluse token --rotate` replaces it (the running API reads the
file per request, so a rotation takes effect at once, without a restart). A token file that others may read is
refused: its secret is no longer one. Tokens are compared in constant time, and never appear in an answer or a
log line.

Browsers attach cookies and credentials to cross-origin requests a page makes: a request that says it comes
from another origin (`Origin` not this server's, or `Sec-Fetch-Site: cross-site`) is refused before anything
else, so no page on the web can drive a control through a trader's browser.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from pathlib import Path

from fastapi import HTTPException, Request

TOKEN_FILE = "api.token"


class ApiTokenError(Exception):
    """The token file cannot be used (readable by others, unreadable, empty); names the file and why."""


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE


def read_token(data_dir: Path) -> str | None:
    """The token, or None when there is no file yet; ApiTokenError when the file is not private or is empty."""
    path = token_path(data_dir)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ApiTokenError(f"token file {path}: mode {stat.S_IMODE(mode):04o} lets others read it; "
                            "`alluse token --rotate` makes a new private one")  # fmt: skip
    token = path.read_text().strip()
    if not token:
        raise ApiTokenError(f"token file {path}: empty; `alluse token --rotate` makes a new one")
    return token


def ensure_token(data_dir: Path) -> tuple[str, bool]:
    """(token, made now): the existing token, or a new one written with mode 0600 from the start."""
    token = read_token(data_dir)
    if token is not None:
        return token, False
    return _write(data_dir, exclusive=True), True


def rotate_token(data_dir: Path) -> str:
    """A new token in place of the old (the old stops working at once)."""
    return _write(data_dir, exclusive=False)


def _write(data_dir: Path, exclusive: bool) -> str:
    token = secrets.token_urlsafe(32)
    path = token_path(data_dir)
    tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private from its first byte
    try:
        os.write(fd, token.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    if exclusive and path.exists():  # another process made one meanwhile: keep theirs
        tmp.unlink()
        existing = read_token(data_dir)
        assert existing is not None
        return existing
    os.replace(tmp, path)
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Guard:
    """The checks each route depends on: `same_origin` for all, `token` for controls (and for reads off loopback)."""

    def __init__(self, data_dir: Path, host: str) -> None:
        self.data_dir = data_dir
        self.reads_need_token = not is_loopback(host)

    def same_origin(self, request: Request) -> None:
        origin = request.headers.get("origin")
        site = request.headers.get("sec-fetch-site")
        own = f"{request.url.scheme}://{request.url.netloc}"
        if site == "cross-site" or (origin is not None and origin != own):
            raise HTTPException(403, "cross-origin requests are refused")

    def token(self, request: Request) -> None:
        self.same_origin(request)
        expected = read_token(self.data_dir)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if expected is None or scheme.lower() != "bearer" or not secrets.compare_digest(given.strip(), expected):
            raise HTTPException(401, "a valid bearer token is needed (DIR/api.token)",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    def read(self, request: Request) -> None:
        if self.reads_need_token:
            self.token(request)
        else:
            self.same_origin(request)
