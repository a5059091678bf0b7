"""The bare-aiohttp baseline: what the service would cost with no Redis and no logic.

Same stack (aiohttp on uvloop, orjson), same body parsing, same answer: a GetDevice response of
the same size and shape (a real one, read from --sample), serialised per request, with the same
headers. The service's warm throughput is reported as a ratio of this server's, measured in the
same run. Run: python -m bench.baseline --sample FILE [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import orjson
import uvloop
from aiohttp import web

TARGET = "AWSCognitoIdentityProviderService.GetDevice"
CONTENT_TYPE = "application/x-amz-json-1.1"


def create_app(sample: bytes) -> web.Application:
    template: dict[str, Any] = orjson.loads(sample)["Device"]
    # Request ids shaped like the service's (36 characters): a random prefix and a counter.
    raw = os.urandom(10).hex()
    prefix = f"{raw[:8]}-{raw[8:12]}-4{raw[12:15]}-8{raw[15:18]}-"
    counter = itertools.count()

    async def handle(request: web.Request) -> web.Response:
        request_id = f"{prefix}{next(counter) & 0xFFFFFFFFFFFF:012x}"
        if request.headers.get("X-Amz-Target", "").rpartition(".")[2] != "GetDevice":
            return web.Response(status=400, body=b'{"__type":"UnknownOperationException"}')
        body = orjson.loads(await request.read())
        if not isinstance(body, dict) or not isinstance(body.get("AccessToken"), str):
            return web.Response(status=400, body=b'{"__type":"NotAuthorizedException"}')
        device = dict(template)
        device["DeviceKey"] = body.get("DeviceKey")
        return web.Response(
            body=orjson.dumps({"Device": device}),
            headers={"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id},
        )

    app = web.Application()
    app.router.add_post("/", handle)
    app.router.add_get("/readyz", _ready)
    return app


async def _ready(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ready"}', content_type="application/json")


async def serve(sample: bytes, host: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    runner = web.AppRunner(create_app(sample), handle_signals=False, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    bound_host, bound_port = sock.getsockname()[:2]
    sys.stdout.write(f"serving baseline on http://{bound_host}:{bound_port}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    p.add_argument("--sample", required=True, help="a GetDevice answer (JSON) to mirror")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    uvloop.run(serve(Path(args.sample).read_bytes(), args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
