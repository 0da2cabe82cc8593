"""The home-care nurses' installable web client (PWA), served by the service itself under /app/.

The sources in the `mobile` package are served as they are: no build step. Every asset is revalidated
(`no-cache` + a strong ETag); the service worker, not the HTTP cache, keeps the app shell for offline use. The
service worker's cache name carries a hash of all assets, filled in here, so any change to any file installs a
new shell on the next visit. Patient data never goes through these routes or into the service worker's cache.

`/app/config.json` tells the client how to sign in: with a development token, or — when
`PML_MOBILE_OAUTH_CLIENT_ID` is set — OAuth2 authorization code with PKCE against `PML_AUTH_ISSUER` as a
public client (no secret exists to leak from a phone).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from api.deps import SettingsDep
from api.problems import problem_response
from pml.settings import Environment, Settings

PREFIX = "/app"
SHELL_VERSION_MARKER = b"__SHELL_VERSION__"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# Headers every response of the client carries: no framing, no sniffing, no referrer leaking a patient URL.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    """Every servable file of the client by its path under /app/, read once per process."""
    found = dict(_walk(files("mobile"), ""))
    shell_version = hashlib.sha256(b"".join(found[path] for path in sorted(found))).hexdigest()[:16]
    served = {}
    for path, body in found.items():
        if path == "sw.js":
            body = body.replace(SHELL_VERSION_MARKER, shell_version.encode())
        content_type = CONTENT_TYPES[_suffix(path)]
        served[path] = Asset(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return served


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for item in folder.iterdir():
        path = f"{prefix}{item.name}"
        if item.is_dir() and not item.name.startswith(("_", ".")):
            found += _walk(item, f"{path}/")
        elif item.is_file() and _suffix(item.name) in CONTENT_TYPES:
            found.append((path, item.read_bytes()))
    return found


def _suffix(name: str) -> str:
    return name[name.rfind(".") :] if "." in name else ""


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and connections from this origin only; the token endpoint of the configured issuer is
    the one other place the client may talk to (the PKCE code exchange)."""
    connect = "'self'"
    if settings.mobile_oauth_client_id:
        connect += f" {_origin(settings.auth_issuer)}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "manifest-src 'self'",
            "worker-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def client_config(settings: Settings) -> dict[str, Any]:
    oauth = settings.mobile_oauth_client_id is not None
    return {
        "auth": {
            "mode": "oauth" if oauth else "development",
            "issuer": settings.auth_issuer if oauth else None,
            "client_id": settings.mobile_oauth_client_id,
            "scope": f"openid profile {settings.auth_audience}" if oauth else None,
        },
        "api_base": "/v1",
        "time_zone": settings.time_zone.key,
        "retention_hours": settings.mobile_data_retention_hours,
        "environment": settings.environment.value,
        "development_tokens": settings.environment is not Environment.PRODUCTION
        and settings.auth_allow_development_key,
    }


@router.get(PREFIX)
async def app_root() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status_code=308)


@router.get(f"{PREFIX}/config.json")
async def app_config(settings: SettingsDep) -> Response:
    headers = SECURITY_HEADERS | {"Cache-Control": "no-store"}
    return JSONResponse(client_config(settings), headers=headers)


@router.get(PREFIX + "/{path:path}")
async def app_asset(path: str, request: Request, settings: SettingsDep) -> Response:
    asset = assets().get(path or "index.html")
    if asset is None:
        return problem_response(404, "not-found", "Not found", f"{PREFIX}/{path} is not part of the client")
    headers = SECURITY_HEADERS | {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",
        "Content-Security-Policy": content_security_policy(settings),
    }
    if asset.etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)
