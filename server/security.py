"""Access control. As FastAPI dependencies: the API key (`Authorization: Bearer <key>`) on every write when
ARTICLECHAT_API_KEY is set, and on every API read too with ARTICLECHAT_PROTECT_READS; writes sent by a web
page of another site refused. As middleware (`install`): the Host allow-list against DNS rebinding, and
CORS for the origins in ARTICLECHAT_CORS_ORIGINS. Routers declare `dependencies=[WriteAccess]` on writes
and `[ReadAccess]` on reads; /healthz, the web UI and the API docs stay open."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from server.dependencies import SettingsDep
from server.errors import error_content, is_openai
from server.hosts import host_allowed, host_of, normalize_origin
from server.settings import Settings

# The same bearer key under two names, so the OpenAPI schema tells writes from reads; the schema served
# merges them into one APIKey scheme, listed on the operations these settings protect (`install`).
SCHEME = "APIKey"
SCHEME_DESCRIPTION = "The server's ARTICLECHAT_API_KEY, sent as `Authorization: Bearer <key>`."
_WRITES, _READS = "APIKeyForWrites", "APIKeyForReads"
# auto_error=False: a missing key is refused by _require_key, in the API's error shape.
write_bearer = HTTPBearer(auto_error=False, scheme_name=_WRITES, description=SCHEME_DESCRIPTION)
read_bearer = HTTPBearer(auto_error=False, scheme_name=_READS, description=SCHEME_DESCRIPTION)
WriteCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(write_bearer)]
ReadCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(read_bearer)]

CHALLENGE = {"WWW-Authenticate": "Bearer"}
NO_KEY = ("this server needs its API key for this request: send the header 'Authorization: Bearer <key>' "
          "with the key the server was started with (ARTICLECHAT_API_KEY)")
WRONG_KEY = ("the API key is not the server's: send the key the server was started with (ARTICLECHAT_API_KEY) "
             "as 'Authorization: Bearer <key>'")
MAX_ECHOED = 100  # characters of a client-supplied origin or host echoed in an error


def key_matches(given: str, key: SecretStr) -> bool:
    """In constant time: how much of a guess matches must not show in the response time."""
    return hmac.compare_digest(given.encode(), key.get_secret_value().encode())


def _require_key(credentials: HTTPAuthorizationCredentials | None, settings: Settings) -> None:
    if settings.api_key is None:
        return
    if credentials is None:
        raise HTTPException(401, NO_KEY, headers=CHALLENGE)
    if not key_matches(credentials.credentials, settings.api_key):
        raise HTTPException(401, WRONG_KEY, headers=CHALLENGE)


def _require_same_site(request: Request, settings: Settings) -> None:
    """A browser says which page sent a request (Origin, else Referer); a write must come from this
    server's own pages or an origin listed in ARTICLECHAT_CORS_ORIGINS. A client that sends neither is not
    a browser acting for a web page, and is left to the API key."""
    claimed = request.headers.get("origin")
    if claimed is None:
        claimed = request.headers.get("referer")
        if claimed is None:
            return
    origin = normalize_origin(claimed)
    own = normalize_origin(f"{request.url.scheme}://{request.headers.get('host', '')}")
    if origin is not None and (origin == own or origin in settings.cors_origins):
        return
    sender = origin[:MAX_ECHOED] if origin else "a page without an origin ('null')"
    raise HTTPException(
        403,
        f"cross-site write refused: it was sent by {sender}, not by this server's own pages ({own}); "
        "if that site may add and delete articles here, add its origin to ARTICLECHAT_CORS_ORIGINS",
    )


async def require_write(request: Request, settings: SettingsDep, credentials: WriteCredentials) -> None:
    """Writes: from this site (or a listed origin) only, and with the API key when one is set."""
    _require_same_site(request, settings)
    _require_key(credentials, settings)


async def require_read(settings: SettingsDep, credentials: ReadCredentials) -> None:
    """API reads: the API key when ARTICLECHAT_PROTECT_READS is on. Both checks are `async def`: no I/O, and a
    plain `def` dependency would cost a worker-thread round trip per request."""
    if settings.protect_reads:
        _require_key(credentials, settings)


WriteAccess = Depends(require_write)
ReadAccess = Depends(require_read)


class AllowedHostsMiddleware:
    """Starlette's TrustedHostMiddleware (same rule: an exact host without its port, `*.example.com`, or
    `*`), answering a refused host with the API's JSON error. A page served from an attacker's domain that
    resolves to this machine (DNS rebinding) sends that domain as Host, and is refused."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.allow_any = "*" in allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("host")
        host = host_of(header)
        if host is not None and host_allowed(host, self.allowed_hosts):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if host is None:
            message = "the request's Host header is missing or malformed: send the host name this server is reached by"
        else:
            message = (f"this server does not answer to the host {host[:MAX_ECHOED]!r}: if it should, add that "
                       "name to ARTICLECHAT_ALLOWED_HOSTS (comma-separated host names, without ports)")
        await JSONResponse(error_content(scope["path"], 400, message), status_code=400)(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """The middleware of access control (CORS only when origins are listed) and an OpenAPI schema that
    marks the operations needing the key with these settings."""
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.allowed_hosts)  # outside CORS
    _describe_in_openapi(app, settings)


def _describe_in_openapi(app: FastAPI, settings: Settings) -> None:
    """The schema lists the key (and a 401) only on the operations these settings protect, and a 403 on
    the writes; without a key, no security scheme at all (no "Authorize" button in /docs)."""
    build = app.openapi
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    openai_error = {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIErrorBody"}}}

    def openapi() -> dict[str, Any]:
        schema = build()
        schemes = schema.get("components", {}).get("securitySchemes", {})
        if _WRITES not in schemes and _READS not in schemes:
            return schema  # described already (build() returns the schema it keeps)
        for name in (_WRITES, _READS):
            schemes.pop(name, None)
        for path, path_item in schema.get("paths", {}).items():
            for operation in path_item.values():
                requirements = operation.pop("security", [])
                names = {name for requirement in requirements for name in requirement}
                write = _WRITES in names
                if settings.api_key is not None and (write or (_READS in names and settings.protect_reads)):
                    operation["security"] = [{SCHEME: []}]
                    operation["responses"]["401"] = {"description": "No API key, or a wrong one.",
                                                     "content": openai_error if is_openai(path) else error}
                if write:
                    operation["responses"]["403"] = {"description": "Sent by another site's page.", "content": error}
        if settings.api_key is not None:
            schemes[SCHEME] = {"type": "http", "scheme": "bearer", "description": SCHEME_DESCRIPTION}
        elif not schemes:
            schema["components"].pop("securitySchemes", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def network_warning(settings: Settings) -> str | None:
    """What to warn about when `serve` binds beyond this machine with no API key, else None."""
    if settings.api_key is not None or _is_loopback(settings.host):
        return None
    return (f"serving on {settings.host}, reachable from the network, without ARTICLECHAT_API_KEY: writes are "
            "open to the network (anyone who can reach this port can add and delete articles); set "
            "ARTICLECHAT_API_KEY, and list the names clients use in ARTICLECHAT_ALLOWED_HOSTS")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
