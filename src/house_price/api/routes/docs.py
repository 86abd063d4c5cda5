"""GET /docs (Swagger UI) and GET /redoc, served with their JavaScript and CSS from this
process: no CDN, so the pages work without internet. The assets are the files of the pinned
`fastapi-offline` package (Swagger UI 5, ReDoc 2), served at /docs/assets/{name} (a route,
so that /metrics counts them under that template); the pages are FastAPI's own (its
documented self-hosting recipe). GET /openapi.json is FastAPI's own route."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

ASSETS_URL = "/docs/assets"
ASSETS = {
    path.name: path
    for path in Path(str(files("fastapi_offline") / "static")).iterdir()
    if path.is_file()
}
DOCS_URL = "/docs"
REDOC_URL = "/redoc"

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    """A proxy's path prefix (root_path), as FastAPI's own pages join it to their URLs."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _asset(request: Request, name: str) -> str:
    return f"{_root(request)}{ASSETS_URL}/{name}"


@router.get(DOCS_URL)
async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        oauth2_redirect_url=f"{root}{app.swagger_ui_oauth2_redirect_url}",
        swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
        swagger_css_url=_asset(request, "swagger-ui.css"),
        swagger_favicon_url=_asset(request, "favicon.png"),
        swagger_ui_parameters=app.swagger_ui_parameters,
    )


@router.get(f"{DOCS_URL}/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(REDOC_URL)
async def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    return get_redoc_html(
        openapi_url=f"{_root(request)}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=_asset(request, "redoc.standalone.js"),
        redoc_favicon_url=_asset(request, "favicon.png"),
        with_google_fonts=False,
    )


@router.get(ASSETS_URL + "/{name}")
async def asset(name: str) -> FileResponse:
    """One of the package's files (by name, nothing else from the disk)."""
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(status_code=404)
    return FileResponse(path)
