"""The aiohttp application: wiring, the one API endpoint, JWKS and health routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from aiohttp import web

from .. import store
from ..credentials.pools import POOLS_VERSION_SCRIPT, PoolRegistry
from ..credentials.sigv4 import Verifier
from ..model.errors import ResourceNotFoundException, UnknownRouteException, pool_not_found
from ..ops import operations
from ..redis_io import connect, embedded, eviction, keys, lua
from ..redis_io.transport import RedisOverloaded, RedisReplyError, RedisUnavailable
from ..runtime import metrics
from ..runtime.settings import Settings
from . import cors, protocol, tracing
from .api import Api

SETTINGS = web.AppKey("settings", Settings)
PIPE: web.AppKey[connect.Transport] = web.AppKey("pipe")
REGISTRY = web.AppKey("registry", PoolRegistry)
IDS = web.AppKey("ids", protocol.RequestIds)
API = web.AppKey("api", Api)
POLICY = web.AppKey("policy", eviction.PolicyCheck)

_JSON = {"Content-Type": "application/json", **cors.HEADERS}


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    url = await asyncio.to_thread(embedded.redis_url, settings)
    admin = connect.admin_client(url, settings.redis_timeout_s)
    pipe: connect.Transport = connect.hot_pipe(url, settings)
    # Tracing off (the default): nothing is wrapped, nothing of OpenTelemetry imported.
    tracer = tracing.tracer(settings)
    if tracer is not None:
        pipe = tracing.TracedPipe(pipe, tracer)
    registry = PoolRegistry()
    policy = eviction.PolicyCheck()
    try:
        await pipe.start()
        # Before anything is written: data put in a Redis that may evict it is data lost.
        await policy.check(pipe.execute)
        await store.ensure_default_pool(admin, settings)
        await registry.load(admin)
        for script in lua.ALL:
            await pipe.execute("SCRIPT", "LOAD", script.source)
        credentials = settings.admin_credentials or await store.ensure_admin_credentials(admin)
    except BaseException:  # a failed start, or a stop signal during it: nothing left open
        await pipe.close()
        await admin.aclose()
        raise
    app[PIPE] = pipe
    app[REGISTRY] = registry
    app[POLICY] = policy
    verifier = Verifier(credentials, settings.region)
    served = operations(settings, registry, pipe, admin)
    if tracer is None:
        app[API] = Api(settings, app[IDS], served, verifier)
    else:
        app[API] = tracing.TracedApi(settings, app[IDS], served, verifier, tracer=tracer)
    tasks = [
        asyncio.create_task(registry.refresh_forever(admin, settings.pool_refresh_s)),
        asyncio.create_task(_flush_metrics_forever()),
    ]
    yield
    for task in tasks:
        task.cancel()
    # Bounded: a task that does not honour its cancellation must never keep the worker from
    # exiting (the drain promises an exit within GRACE_S).
    await asyncio.wait(tasks, timeout=2.0)
    metrics.RECORDER.flush()
    await pipe.close()
    await admin.aclose()
    if tracer is not None:
        tracing.shutdown()


async def _flush_metrics_forever() -> None:
    while True:
        await asyncio.sleep(metrics.FLUSH_PERIOD_S)
        metrics.RECORDER.flush()


async def handle_api(request: web.Request) -> web.StreamResponse:
    """POST / through the router: requests the runner's fast path leaves to it (see httpserver)."""
    return await request.app[API](request)


async def handle_preflight(request: web.Request) -> web.StreamResponse:
    """OPTIONS /: a browser's CORS preflight before POST / (see service/http/cors.py)."""
    return protocol.preflight(*_ids(request))


async def handle_jwks(request: web.Request) -> web.StreamResponse:
    pool = request.app[REGISTRY].by_id.get(request.match_info["pool_id"])
    if pool is None or pool.deleted:
        return _not_found(request, request.match_info["pool_id"])
    return web.Response(body=pool.jwks, headers=_JSON)


async def handle_openid(request: web.Request) -> web.StreamResponse:
    pool_id = request.match_info["pool_id"]
    pool = request.app[REGISTRY].by_id.get(pool_id)
    if pool is None or pool.deleted:
        return _not_found(request, pool_id)
    # Never from the request's Host header: a client could make the document point anywhere.
    # By default the keys are published beside the issuer, as Cognito does; a pool fronting
    # real Cognito keys (--jwks-url) then names Cognito's own JWKS.
    base = request.app[SETTINGS].public_base_url.rstrip("/")
    jwks_uri = f"{base}/{pool_id}" if base else pool.issuer
    jwks_uri += "/.well-known/jwks.json"
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


def _not_found(request: web.Request, pool_id: str) -> web.StreamResponse:
    exc = ResourceNotFoundException(pool_not_found(pool_id))
    exc.status = 404
    return protocol.error(exc, *_ids(request))


def _ids(request: web.Request) -> tuple[str, str | None]:
    return protocol.request_id(request.headers.get(protocol.X_REQUEST_ID), request.app[IDS])


async def handle_metrics(request: web.Request) -> web.Response:
    body, content_type = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type, **cors.HEADERS})


async def handle_healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', headers=_JSON)


async def handle_readyz(request: web.Request) -> web.Response:
    pipe = request.app[PIPE]
    try:
        # One after the other, not gathered: REDIS_MAX_INFLIGHT may be 1. SCRIPT EXISTS reaches
        # every primary (it was PING's job); three round trips in all, every few seconds.
        loaded = await pipe.execute("SCRIPT", "EXISTS", *(s.sha for s in lua.ALL))
        # The record that exists from the first start on (every pool change writes it): gone
        # means Redis lost data (evicted, flushed, a replica promoted empty).
        pools_version = await pipe.evalsha(POOLS_VERSION_SCRIPT, (keys.POOLS_VERSION,), ())
        await request.app[POLICY].check(pipe.execute)
        if not all(loaded):
            for script in lua.ALL:
                await pipe.execute("SCRIPT", "LOAD", script.source)
        if pools_version is None:
            raise eviction.DataLostError(
                f"the pools record ({keys.POOLS_VERSION}) is gone: Redis lost this service's "
                "data (eviction, FLUSHALL, a failover to an empty replica?)"
            )
    except (
        RedisUnavailable,
        RedisReplyError,
        RedisOverloaded,
        eviction.EvictionPolicyError,
        eviction.DataLostError,
    ) as exc:
        body = orjson.dumps({"status": "unavailable", "redis": str(exc)})
        return web.Response(status=503, body=body, headers=_JSON)
    version = request.app[REGISTRY].version
    ready = {"status": "ready", "pools_version": version.decode() if version else None}
    return web.Response(body=orjson.dumps(ready), headers=_JSON)


async def handle_unknown_route(request: web.Request) -> web.StreamResponse:
    exc = UnknownRouteException(
        f"No operation at {request.method} {request.path}: send POST / with X-Amz-Target."
    )
    return protocol.error(exc, *_ids(request))


def create_app(settings: Settings) -> web.Application:
    """The application for `settings`; Redis connections open on startup, close on cleanup."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    metrics.set_build_info(settings.build_revision)
    app[SETTINGS] = settings
    app[IDS] = protocol.RequestIds()
    app.cleanup_ctx.append(_redis_ctx)
    app.router.add_post("/", handle_api)
    app.router.add_route("OPTIONS", "/", handle_preflight)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/{pool_id}/.well-known/jwks.json", handle_jwks)
    app.router.add_get("/{pool_id}/.well-known/openid-configuration", handle_openid)
    app.router.add_route("*", "/{tail:.*}", handle_unknown_route)
    return app
