"""The aiohttp application: wiring, the one API endpoint, JWKS and health routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from . import connect, embedded, lua, metrics, netrules, protocol, store
from .catalog import COGNITO_OPERATIONS
from .cluster import ClusterPipe
from .errors import (
    WAF_BLOCK,
    CognitoError,
    ForbiddenException,
    InternalErrorException,
    RequestEntityTooLargeException,
    RequestTimeoutException,
    ResourceNotFoundException,
    SerializationException,
    TooManyRequestsException,
    UnknownOperationException,
    UnknownRouteException,
    pool_not_found,
)
from .logs import REQUEST_ID
from .operations import Operation, operations
from .pools import PoolRegistry
from .settings import Settings
from .transport import RedisOverloaded, RedisReplyError, RedisUnavailable

log = logging.getLogger("service")

SETTINGS = web.AppKey("settings", Settings)
PIPE: web.AppKey[connect.Transport] = web.AppKey("pipe")
REGISTRY = web.AppKey("registry", PoolRegistry)
OPERATIONS = web.AppKey("operations", dict[str, Operation])
IDS = web.AppKey("ids", protocol.RequestIds)

_JSON = {"Content-Type": "application/json"}


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    url = await asyncio.to_thread(embedded.redis_url, settings)
    admin = connect.admin_client(url, settings.redis_timeout_s)
    pipe = connect.hot_pipe(url, settings)
    if isinstance(pipe, ClusterPipe):
        await pipe.refresh()
    registry = PoolRegistry()
    await store.ensure_default_pool(admin, settings)
    await registry.load(admin)
    for script in lua.ALL:
        await pipe.execute("SCRIPT", "LOAD", script.source)
    app[PIPE] = pipe
    app[REGISTRY] = registry
    app[OPERATIONS] = operations(settings, registry, pipe)
    tasks = [
        asyncio.create_task(registry.refresh_forever(admin, settings.pool_refresh_s)),
        asyncio.create_task(_flush_metrics_forever()),
    ]
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    metrics.RECORDER.flush()
    await pipe.close()
    await admin.aclose()


async def _flush_metrics_forever() -> None:
    while True:
        await asyncio.sleep(metrics.FLUSH_PERIOD_S)
        metrics.RECORDER.flush()


async def handle_api(request: web.Request) -> web.Response:
    """POST /: every AWS JSON 1.1 operation arrives here, named by X-Amz-Target."""
    app = request.app
    request_id = app[IDS].next()
    started = time.perf_counter()
    recorder = metrics.RECORDER
    recorder.in_flight += 1
    error: CognitoError | None = None
    target = request.headers.get("X-Amz-Target")
    try:
        response = protocol.ok(await _dispatch(request, target), request_id)
    except CognitoError as exc:
        error = exc
    except RedisOverloaded:
        error = TooManyRequestsException("Rate exceeded")
    except (RedisUnavailable, RedisReplyError) as exc:
        recorder.redis_errors += 1
        log.error("redis failure: %s", exc, extra={REQUEST_ID: request_id})
        error = InternalErrorException()
    except Exception:
        log.exception("unexpected failure", extra={REQUEST_ID: request_id})
        error = InternalErrorException()
    finally:
        recorder.in_flight -= 1
    if error is not None:
        response = protocol.error(error, request_id)
    # Label by operation only for operations we serve: a label from a header would let any
    # client create unbounded metric series.
    name = "unknown"
    if target and target.startswith(protocol.TARGET_PREFIX):
        served = target[len(protocol.TARGET_PREFIX) :]
        if served in app[OPERATIONS]:
            name = served
    type_name = "OK" if error is None else error.type_name
    recorder.answered(name, type_name, time.perf_counter() - started)
    return response


async def _dispatch(request: web.Request, target: str | None) -> bytes:
    app = request.app
    settings = app[SETTINGS]
    if settings.deny_cidrs and netrules.denied(
        netrules.client_ip(request, settings.trusted_proxies), settings.deny_cidrs
    ):
        raise ForbiddenException(WAF_BLOCK)
    name = protocol.parse_target(target)
    operation = app[OPERATIONS].get(name)
    if operation is None:
        if name in COGNITO_OPERATIONS:
            raise UnknownOperationException(f"Operation {name} is not served yet by this service.")
        raise UnknownOperationException(f"Unknown operation {name}.")
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        raise _too_large(settings)
    try:
        if request.content.is_eof():
            raw = await request.read()  # all there already: no timer needed (it costs ~9 us)
        else:
            async with asyncio.timeout(settings.body_timeout_s):
                raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(settings) from None
    except RequestPayloadError:  # e.g. Content-Encoding: gzip that does not decompress
        raise SerializationException("The request body could not be read or decoded.") from None
    except TimeoutError:
        raise RequestTimeoutException(
            f"The request body did not arrive within {settings.body_timeout_s:g} s."
        ) from None
    return await operation(protocol.parse_body(raw))


def _too_large(settings: Settings) -> RequestEntityTooLargeException:
    return RequestEntityTooLargeException(
        f"Request body is larger than the limit of {settings.max_body_bytes} bytes."
    )


async def handle_jwks(request: web.Request) -> web.Response:
    pool = request.app[REGISTRY].by_id.get(request.match_info["pool_id"])
    if pool is None or pool.deleted:
        return _not_found(request, request.match_info["pool_id"])
    return web.Response(body=pool.jwks, headers=_JSON)


async def handle_openid(request: web.Request) -> web.Response:
    pool_id = request.match_info["pool_id"]
    pool = request.app[REGISTRY].by_id.get(pool_id)
    if pool is None or pool.deleted:
        return _not_found(request, pool_id)
    jwks_uri = f"{request.url.origin()}/{pool_id}/.well-known/jwks.json"
    doc = {
        "issuer": pool.issuer,
        "jwks_uri": jwks_uri,
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "response_types_supported": ["code", "token"],
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    return web.Response(body=orjson.dumps(doc), headers=_JSON)


def _not_found(request: web.Request, pool_id: str) -> web.Response:
    exc = ResourceNotFoundException(pool_not_found(pool_id))
    exc.status = 404
    return protocol.error(exc, request.app[IDS].next())


async def handle_metrics(request: web.Request) -> web.Response:
    body, content_type = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def handle_healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', headers=_JSON)


async def handle_readyz(request: web.Request) -> web.Response:
    pipe = request.app[PIPE]
    try:
        await pipe.execute("PING")
        loaded = await pipe.execute("SCRIPT", "EXISTS", *(s.sha for s in lua.ALL))
        if not all(loaded):
            for script in lua.ALL:
                await pipe.execute("SCRIPT", "LOAD", script.source)
    except (RedisUnavailable, RedisReplyError, RedisOverloaded) as exc:
        body = orjson.dumps({"status": "unavailable", "redis": str(exc)})
        return web.Response(status=503, body=body, headers=_JSON)
    version = request.app[REGISTRY].version
    ready = {"status": "ready", "pools_version": version.decode() if version else None}
    return web.Response(body=orjson.dumps(ready), headers=_JSON)


async def handle_unknown_route(request: web.Request) -> web.Response:
    exc = UnknownRouteException(
        f"No operation at {request.method} {request.path}: send POST / with X-Amz-Target."
    )
    return protocol.error(exc, request.app[IDS].next())


def create_app(settings: Settings) -> web.Application:
    """The application for `settings`; Redis connections open on startup, close on cleanup."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[IDS] = protocol.RequestIds()
    app.cleanup_ctx.append(_redis_ctx)
    app.router.add_post("/", handle_api)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/{pool_id}/.well-known/jwks.json", handle_jwks)
    app.router.add_get("/{pool_id}/.well-known/openid-configuration", handle_openid)
    app.router.add_route("*", "/{tail:.*}", handle_unknown_route)
    return app
