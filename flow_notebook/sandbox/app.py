"""The FastAPI application of the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from flow_notebook.sandbox.errors import ApiError
from flow_notebook.sandbox.middleware import SandboxMiddleware, Stats
from flow_notebook.sandbox.routes import (
    account,
    admin,
    api_keys,
    instances,
    kubernetes,
    lifecycle_scripts,
    pricing,
    reservations,
    spot,
)
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.validation import RequestValidation, RequestValidator, spec_index


def create_app(sandbox: Sandbox) -> Any:
    """Returns the ASGI app serving ``sandbox``.

    The app's lifespan starts the market ticker and, on shutdown, stops it and every
    instance.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sandbox.start()
        try:
            yield
        finally:
            sandbox.close()

    app = FastAPI(
        title="Mithril sandbox",
        lifespan=lifespan,
        openapi_url="/_sandbox/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.sandbox = sandbox
    app.state.stats = Stats()
    for module in (
        account,
        api_keys,
        spot,
        instances,
        pricing,
        reservations,
        lifecycle_scripts,
        kubernetes,
        admin,
    ):
        app.include_router(module.router)
    app.include_router(instances.image_router)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette names only the first route of the path in Allow; name them all.
            exc.headers = {"Allow": ", ".join(allowed_methods(app, request.url.path))}
        return await http_exception_handler(request, exc)

    validated = RequestValidation(app, RequestValidator(spec_index()))
    return SandboxMiddleware(validated, sandbox, app.state.stats)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Returns every method some route of ``app`` serves at ``path``."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)
