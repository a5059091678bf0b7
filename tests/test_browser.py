"""A real browser calls the service: headless Chromium runs the AWS SDK for JavaScript v3 in a page
served from another origin than the service, so CORS (service/http/cors.py) is exercised for real:
the preflight, Access-Control-Allow-Origin on the answer, and the exposed x-amzn-* headers the
SDK reads.

Needs chromium, node and npm (`scripts/install-browser-deps` installs them as root), and the npm
registry the first time: tests/browser/ is installed with `npm ci` into a cache keyed by its
package-lock.json (~/.cache/cgd-browser), and bundled with esbuild on every run. Skips, saying
why, when any of it is missing.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import npm_cache
from tests.conftest import PROJECT, Admin, LiveServer
from tests.noskip import unavailable

SOURCES = PROJECT / "tests" / "browser"
ENTRY = "get_device.js"
CHROMIUM_TIMEOUT_S = 60


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _install(node: str, npm: str) -> Path:
    """tests/browser's node_modules, installed once per package-lock.json; its directory."""
    return npm_cache.install(SOURCES, "cgd-browser", npm)


@pytest.fixture(scope="session")
def chromium() -> str:
    browser = _browser()
    if browser is None:
        unavailable("chromium is not installed (run scripts/install-browser-deps as root)")
    return browser


@pytest.fixture(scope="session")
def bundle(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """tests/browser/get_device.js and the SDK, bundled by esbuild into one script."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node or npm is not installed (run scripts/install-browser-deps as root)")
    installed = _install(node, npm)
    out = tmp_path_factory.mktemp("bundle") / ENTRY
    # The entry comes on stdin, so that imports resolve from the cached node_modules while the
    # source stays in tests/browser.
    result = subprocess.run(
        [
            # A script for node, or the native binary once esbuild's install script replaced it.
            str(installed / "node_modules" / ".bin" / "esbuild"),
            "--bundle",
            "--format=iife",
            "--platform=browser",
            "--target=es2020",
            f"--sourcefile={ENTRY}",
            f"--outfile={out}",
            "--log-level=warning",
        ],
        input=(SOURCES / ENTRY).read_text(),
        cwd=installed,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


class _Site(ThreadingHTTPServer):
    """A loopback HTTP server on a port of its own: an origin other than the service's."""

    daemon_threads = True

    def __init__(self, pages: dict[str, bytes], api_answer: bytes | None = None) -> None:
        self.pages = pages  # path -> body, served with GET
        self.api_answer = api_answer  # if set, POST / and OPTIONS / get it, with no CORS at all
        super().__init__(("127.0.0.1", 0), _SiteHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class _SiteHandler(BaseHTTPRequestHandler):
    server: _Site

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        body = self.server.pages.get(self.path)
        if body is None:
            self._send(404, b"not here", "text/plain")
        elif self.path.endswith(".js"):
            self._send(200, body, "text/javascript")
        else:
            self._send(200, body, "text/html; charset=utf-8")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.api_answer is None:
            self._send(404, b"not here", "text/plain")
        else:
            self._send(200, self.server.api_answer, "application/x-amz-json-1.1")

    def do_OPTIONS(self) -> None:
        self._send(200, b"", "text/plain")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site(bundle: bytes) -> Iterator[_Site]:
    served = _Site({f"/{ENTRY}": bundle})
    yield served
    served.stop()


def _page(endpoint: str, token: str, device_key: str) -> bytes:
    config = json.dumps({"endpoint": endpoint, "accessToken": token, "deviceKey": device_key})
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>GetDevice</title></head><body>"
        "<pre id='result'>pending</pre>"
        f"<script>window.CGD = {config};</script>"
        f"<script src='/{ENTRY}'></script>"
        "</body></html>"
    ).encode()


def run_page(chromium: str, url: str) -> dict[str, Any]:
    """Load `url` in headless Chromium; the outcome the page wrote into #result."""
    with tempfile.TemporaryDirectory(prefix="cgd-chromium-") as profile:
        args = [
            chromium,
            "--headless=new",
            "--no-sandbox",  # as root, Chromium refuses to start with its sandbox
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            # Nothing but the loopback address resolves: the browser reaches nothing else.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ]
        try:
            result = subprocess.run(
                args, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium did not finish within {CHROMIUM_TIMEOUT_S} s")
    found = re.search(r"<pre id=\"result\"[^>]*>(.*?)</pre>", result.stdout, re.S)
    assert found, f"no #result in the DOM:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    text = html.unescape(found[1])
    assert text != "pending", f"the page did not finish:\n{result.stderr[-2000:]}"
    outcome: dict[str, Any] = json.loads(text)
    return outcome


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_browser_get_device_from_another_origin(
    chromium: str, site: _Site, live: LiveServer, admin: Admin
) -> None:
    _, device, token = admin.user_with_device("alice")
    assert site.origin != live.url  # another port: another origin, so CORS applies
    site.pages["/ok.html"] = _page(live.url, token, device)
    outcome = run_page(chromium, f"{site.origin}/ok.html")
    assert outcome["ok"] is True, outcome
    assert outcome["deviceKey"] == device
    assert outcome["httpStatusCode"] == 200
    # The SDK read x-amzn-RequestId: only possible because the answer exposes it.
    assert UUID.fullmatch(outcome["requestId"] or ""), outcome


def test_browser_sees_cognito_errors_intact(
    chromium: str, site: _Site, live: LiveServer, admin: Admin
) -> None:
    _, device, _ = admin.user_with_device("alice")
    site.pages["/bad.html"] = _page(live.url, "abc.def.ghi", device)
    outcome = run_page(chromium, f"{site.origin}/bad.html")
    assert outcome == {
        "ok": False,
        "name": "NotAuthorizedException",
        "message": "Invalid Access Token",
        "fault": "client",
        "requestId": outcome["requestId"],
        "httpStatusCode": 400,
    }
    assert UUID.fullmatch(outcome["requestId"] or ""), outcome


def test_browser_blocks_an_endpoint_without_cors(chromium: str, site: _Site) -> None:
    # The control: the same page against an endpoint that answers GetDevice well but sends no
    # CORS headers fails in the browser, so the passes above are CORS's doing.
    device = "us-east-1_0123abcd-0123-4567-89ab-0123456789ab"
    plain = _Site({}, api_answer=orjson.dumps({"Device": {"DeviceKey": device}}))
    try:
        site.pages["/plain.html"] = _page(plain.origin, "abc.def.ghi", device)
        outcome = run_page(chromium, f"{site.origin}/plain.html")
    finally:
        plain.stop()
    assert outcome["ok"] is False, outcome
    assert outcome["name"] == "TypeError" and "fetch" in outcome["message"], outcome
