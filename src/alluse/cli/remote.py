"""`alluse cancel` and `alluse flatten`: controls sent to a running system through its REST API (rpc/), with the
bearer token from the data dir (`DIR/api.token`, which only the run's user can read); and the API client
`alluse status` uses to ask a running system first."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from alluse.cli.inputs import add_data_dir, add_json
from alluse.cli.output import console, print_json

DEFAULT_API = "http://127.0.0.1:9108"  # configs/demo.toml's port


class ApiCallError(Exception):
    """The API refused or could not be reached; names the URL and why, in one line."""


def add_api(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=DEFAULT_API, help=f"the running system's API (default {DEFAULT_API})")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cancel", help="cancel working orders of a running system, through its API")
    p.add_argument("--all", action="store_true", required=True, help="every working order (of --account, or all)")
    p.add_argument("--account", help="only this account's")
    for q in (p, f := sub.add_parser("flatten", help="close an account's positions at market, through the API")):
        add_data_dir(q)
        add_api(q)
        add_json(q)
    f.add_argument("--account", required=True)
    p.set_defaults(func=control_command, path="/api/v1/cancel-all")
    f.set_defaults(func=control_command, path="/api/v1/flatten")


def control_command(args: argparse.Namespace) -> int:
    from alluse.rpc.auth import read_token

    token = read_token(args.data_dir)
    if token is None:
        raise ApiCallError(f"no API token in {args.data_dir} (has `alluse run` served its API there?)")
    out = call(args.api, args.path, token=token, body={"account": args.account})
    if args.json:
        print_json(out)
        return 0
    what = f"{out['cancelled']} working orders asked to cancel"
    if out["action"] == "flatten":
        denied = f", {len(out['denied'])} denied" if out["denied"] else ""
        what += f", {len(out['orders'])} closing orders sent{denied}"
    console.print(f"{out['action']} {', '.join(out['accounts'])}: {what} (journaled as {out['who']})", markup=False)
    for coid, why in out["denied"].items():
        console.print(f"  {coid} denied: {why}", markup=False)
    return 0


def call(api: str, path: str, *, token: str | None = None, body: dict[str, Any] | None = None,
         timeout_s: float = 5.0) -> Any:  # fmt: skip
    """GET (no body) or POST a JSON body; the answer's JSON, or ApiCallError with the API's own reason."""
    url = api.rstrip("/") + path
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("detail", detail)
        except (ValueError, AttributeError):
            pass
        raise ApiCallError(f"{url}: {exc.code} {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiCallError(f"{url}: not reachable ({reason}); is `alluse run` up with that port?") from None


def running_status(api: str, data_dir: Path) -> dict[str, Any] | None:
    """The running system's status when the API at `api` is up and serves this data dir; else None."""
    try:
        status = call(api, "/api/v1/status", timeout_s=1.0)
    except ApiCallError:
        return None
    if status.get("data_dir") != str(data_dir.resolve()):
        return None  # another run's
    return {"status": status, "accounts": call(api, "/api/v1/accounts"), "connection": call(api, "/api/v1/connection")}
