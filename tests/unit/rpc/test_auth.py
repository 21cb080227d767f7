"""The API token file and the request guard: private from its first byte, refused once others can read it,
rotated in place; reads need the token off loopback; cross-origin browser requests are refused."""

import os
import stat

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from alluse.cli import main
from alluse.rpc.auth import ApiTokenError, Guard, ensure_token, is_loopback, read_token, rotate_token, token_path


def request(headers: dict[str, str], host: str = "127.0.0.1:8000") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in {"host": host, **headers}.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "scheme": "http", "headers": raw,
                    "server": ("127.0.0.1", 8000), "query_string": b""})  # fmt: skip


def test_the_token_is_made_once_private_and_read_back(tmp_path):
    old = os.umask(0)  # even a permissive umask cannot widen it
    try:
        token, made = ensure_token(tmp_path)
    finally:
        os.umask(old)
    assert made and len(token) >= 40 and stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600
    assert ensure_token(tmp_path) == (token, False) and read_token(tmp_path) == token
    new = rotate_token(tmp_path)
    assert new != token and read_token(tmp_path) == new and stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600


def test_a_token_file_others_can_read_is_refused_naming_it(tmp_path):
    ensure_token(tmp_path)
    token_path(tmp_path).chmod(0o644)
    with pytest.raises(ApiTokenError, match=r"api.token: mode 0644 lets others read it"):
        read_token(tmp_path)


def test_the_guard_wants_the_bearer_token_and_refuses_other_origins(tmp_path):
    token, _ = ensure_token(tmp_path)
    guard = Guard(tmp_path, "127.0.0.1")
    guard.token(request({"Authorization": f"Bearer {token}"}))  # passes
    guard.token(request({"Authorization": f"bearer {token}", "Origin": "http://127.0.0.1:8000"}))  # same origin
    for headers, code in (
        ({}, 401),
        ({"Authorization": token}, 401),  # no scheme
        ({"Authorization": f"Bearer {token}x"}, 401),
        ({"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}, 403),
        ({"Authorization": f"Bearer {token}", "Sec-Fetch-Site": "cross-site"}, 403),
    ):
        with pytest.raises(HTTPException) as exc:
            guard.token(request(headers))
        assert exc.value.status_code == code, headers
    guard.read(request({}))  # reads on loopback need no token...
    with pytest.raises(HTTPException) as exc:
        Guard(tmp_path, "192.0.2.7").read(request({}))  # ...off loopback they do
    assert exc.value.status_code == 401
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")


def test_the_token_command_rotates_and_prints_once(tmp_path, capsys):
    assert main(["token", "--data-dir", str(tmp_path)]) == 0
    assert "no API token" in capsys.readouterr().out
    assert main(["token", "--data-dir", str(tmp_path), "--rotate"]) == 0
    out = capsys.readouterr().out
    assert read_token(tmp_path) in out
    assert main(["token", "--data-dir", str(tmp_path)]) == 0
    assert read_token(tmp_path) not in capsys.readouterr().out  # shown when made, not again
    assert main(["token", "--data-dir", str(tmp_path / "nope")]) == 2
    assert "--data-dir" in capsys.readouterr().err
