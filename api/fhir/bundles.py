"""Search and history Bundles, and the headers of single-resource responses."""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fhir.resources.R4B.bundle import Bundle
from starlette.responses import Response

from api.fhir.outcomes import FHIR_JSON, fhir_json


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir/R4"


def weak_etag(version: int | str) -> str:
    return f'W/"{version}"'


def resource_response(
    resource: Any,
    *,
    version: int | str | None = None,
    last_modified: dt.datetime | None = None,
    location: str | None = None,
    status_code: int = 200,
) -> Response:
    headers: dict[str, str] = {}
    if version is not None:
        headers["ETag"] = weak_etag(version)
    if last_modified is not None:
        headers["Last-Modified"] = email.utils.format_datetime(last_modified.astimezone(dt.UTC), usegmt=True)
    if location is not None:
        headers["Location"] = location
    return Response(fhir_json(resource), status_code=status_code, media_type=FHIR_JSON, headers=headers)


def _entry(request: Request, resource: Any, *, search: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "fullUrl": f"{base_url(request)}/{resource.get_resource_type()}/{resource.id}",
        "resource": resource,
    }
    if search:
        entry["search"] = {"mode": "match"}
    return entry


def _next_link(request: Request, params: dict[str, str] | None) -> list[dict[str, str]]:
    links = [{"relation": "self", "url": str(request.url)}]
    if params is not None:
        links.append({"relation": "next", "url": f"{str(request.url).split('?')[0]}?{urlencode(params)}"})
    return links


def searchset(
    request: Request,
    resources: list[Any],
    *,
    included: list[Any] | None = None,
    next_params: dict[str, str] | None = None,
    total: int | None = None,
) -> Bundle:
    entries = [_entry(request, resource, search=True) for resource in resources]
    for resource in included or []:
        entries.append(_entry(request, resource, search=False) | {"search": {"mode": "include"}})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": _next_link(request, next_params),
    }
    if total is not None:
        bundle["total"] = total
    return Bundle.model_validate(bundle | ({"entry": entries} if entries else {}))


def history_entry(
    request: Request, resource: Any, *, created: bool, modified: dt.datetime | None
) -> dict[str, Any]:
    """A history Bundle entry: the version and how it came to be (the first version POST, later ones PUT)."""
    resource_type, version = resource.get_resource_type(), resource.meta.versionId
    response: dict[str, Any] = {"status": "201 Created" if created else "200 OK", "etag": weak_etag(version)}
    if modified is not None:
        response["lastModified"] = modified
    return {
        "fullUrl": f"{base_url(request)}/{resource_type}/{resource.id}",
        "resource": resource,
        "request": {
            "method": "POST" if created else "PUT",
            "url": resource_type if created else f"{resource_type}/{resource.id}",
        },
        "response": response,
    }


def history(request: Request, entries: list[dict[str, Any]], next_params: dict[str, str] | None) -> Bundle:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "history",
        "link": _next_link(request, next_params),
    }
    return Bundle.model_validate(bundle | ({"entry": entries} if entries else {}))
