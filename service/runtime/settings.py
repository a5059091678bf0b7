"""Every setting, declared once (`setting(...)` on Settings) and read from the environment in
exactly one place (`Settings.from_env()`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from . import setting_casts as casts
from .setting_casts import Network, mask_url
from .setting_decl import Setting, declared, setting

__all__ = ["ENV_VARS", "SPEC", "Setting", "Settings", "SettingsError"]


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Build it with `Settings.from_env()`."""

    # Where Redis is. Empty means: start (or reuse) the embedded redis-server.
    redis_url: str = setting(
        "REDIS_URL",
        casts.text,
        default="",
        shown="*(unset: embedded)*",
        doc="`redis://`, `rediss://` or `unix://` URL of the Redis to use; "
        "`redis+cluster://host:port,...` (or `rediss+cluster://`) for a Redis Cluster",
    )
    redis_server: str = setting(
        "REDIS_SERVER",
        casts.text,
        default="",
        shown="*(search)*",
        doc="`redis-server` binary for the embedded Redis",
    )
    data_dir: str = setting(
        "DATA_DIR",
        casts.text,
        factory=casts.default_data_dir,
        shown="`~/.local/share/cognito-device-api`",
        doc="the embedded Redis's directory (socket, AOF)",
    )
    redis_timeout_s: float = setting(
        "REDIS_TIMEOUT_S",
        casts.positive_float,
        default=1.0,
        doc="every Redis call's timeout, seconds",
    )
    redis_max_inflight: int = setting(
        "REDIS_MAX_INFLIGHT",
        casts.positive_int,
        default=20000,
        doc="commands waiting on Redis per worker before new ones are shed",
    )

    host: str = setting(
        "HOST", casts.text, default="127.0.0.1", doc="listen address (`0.0.0.0` in the container)"
    )
    port: int = setting("PORT", casts.port, default=9229, doc="listen port")
    workers: int = setting(
        "WORKERS",
        casts.positive_int,
        default=1,
        doc="worker processes sharing one listening socket",
    )
    grace_s: float = setting(
        "GRACE_S",
        casts.positive_float,
        default=10.0,
        doc="on SIGTERM, how long in-flight requests may take to finish",
    )
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES", casts.positive_int, default=65536, doc="request body limit"
    )
    body_timeout_s: float = setting(
        "BODY_TIMEOUT_S",
        casts.positive_float,
        default=10.0,
        doc="a client slower than this to send its body gets RequestTimeoutException (408)",
    )
    header_timeout_s: float = setting(
        "HEADER_TIMEOUT_S",
        casts.positive_float,
        default=10.0,
        doc="a request head (request line and headers) must arrive within this of the connection "
        "opening, or of its first byte after the previous answer; else "
        "RequestTimeoutException (408) and the connection closes (nginx's "
        "`client_header_timeout` is the same 10 s)",
    )
    keepalive_timeout_s: float = setting(
        "KEEPALIVE_TIMEOUT_S",
        casts.positive_float,
        default=75.0,
        doc="an idle kept-alive connection closes after this; longer than any proxy's idle pool "
        "(nginx 60 s in deploy/nginx.conf, AWS load balancers 60 s), so the service never "
        "closes a connection a proxy is about to reuse",
    )

    region: str = setting(
        "REGION", casts.region, default="us-east-1", doc="region in issuers and ARNs"
    )
    account_id: str = setting(
        "ACCOUNT_ID", casts.account, default="000000000000", doc="account id in device ARNs"
    )
    admin_credentials: Mapping[str, str] = setting(
        "ADMIN_CREDENTIALS",
        casts.credentials,
        factory=dict,
        shown="*(unset: one pair made and kept in Redis)*",
        doc="the credentials that may sign admin calls (SigV4): comma-separated "
        "`ACCESS_KEY_ID:SECRET_ACCESS_KEY` pairs; unset, `serve` makes one pair and stores it in "
        "Redis, and `python -m service admin-credentials` prints it (the banner shows the "
        "secret only on a terminal or with `DEMO` on)",
    )
    default_pool_id: str = setting(
        "DEFAULT_POOL_ID",
        casts.pool_id,
        default="us-east-1_LocalPool",
        doc="the pool that exists without set-up",
    )
    issuer_base_url: str = setting(
        "ISSUER_BASE_URL",
        casts.text,
        default="",
        shown="`https://cognito-idp.<REGION>.amazonaws.com`",
        doc="tokens' `iss` is `<base>/<poolId>`",
    )
    public_base_url: str = setting(
        "PUBLIC_BASE_URL",
        casts.text,
        default="",
        shown="*(the issuer's)*",
        doc="where clients reach this service: `openid-configuration`'s `jwks_uri` is "
        "`<base>/<poolId>/.well-known/jwks.json`; unset, `<issuer>/.well-known/jwks.json` as "
        "Cognito publishes it (never the request's `Host`)",
    )
    pool_refresh_s: float = setting(
        "POOL_REFRESH_S",
        casts.positive_float,
        default=1.0,
        doc="how often workers check whether pools changed",
    )
    claims_cache_max_ttl_s: int = setting(
        "CLAIMS_CACHE_MAX_TTL_S",
        casts.positive_int,
        default=3600,
        doc="longest life of a cached verified token (never past its `exp`)",
    )
    route_cache_size: int = setting(
        "ROUTE_CACHE_SIZE",
        casts.positive_int,
        default=16384,
        doc="tokens each worker remembers the Redis slot of (about 1.4 KB each; a request "
        "with a token it does not remember costs a few µs more of its CPU under load, 2 to 10 "
        "in bench runs: size it to the distinct tokens a worker sees; once full, it takes a "
        "quarter of new tokens, at random)",
    )
    # Tokens of pools that trust outside keys carry another clock's iat: a sign-out also
    # revokes those issued up to this long after it (see get_device.lua).
    iat_skew_s: float = setting(
        "IAT_SKEW_S",
        casts.non_negative_float,
        default=5.0,
        doc="for pools that trust outside keys: a sign-out also revokes their tokens issued up to"
        " this long after it (another clock minted their `iat`)",
    )

    user_rate_per_s: float = setting(
        "USER_RATE_PER_S",
        casts.positive_float,
        default=10.0,
        doc="per-user bucket refill, for each of a user's three buckets (Cognito's per-user "
        "quotas: reads such as GetDevice and ListDevices, writes such as UpdateDeviceStatus, "
        "and sign-in attempts, kept apart so that no one throttles a user's token calls)",
    )
    user_burst: int = setting(
        "USER_BURST", casts.positive_int, default=10, doc="per-user bucket size"
    )
    pool_rate_limit: bool = setting(
        "POOL_RATE_LIMIT",
        casts.boolean,
        default=False,
        doc="also apply a pool-wide bucket per quota category (service/model/quotas.py: "
        "UserResourceRead, UserResourceUpdate, UserUpdate, UserToken, ...)",
    )
    pool_rate_per_s: float = setting(
        "POOL_RATE_PER_S",
        casts.positive_float,
        default=50.0,
        doc="UserResourceRead's pool-wide refill",
    )
    pool_burst: int = setting(
        "POOL_BURST", casts.positive_int, default=50, doc="UserResourceRead's pool-wide bucket size"
    )
    category_rates: Mapping[str, float] = setting(
        "CATEGORY_RATES",
        casts.category_rates,
        factory=dict,
        shown="*(Cognito's defaults)*",
        doc="other categories' pool-wide rates, `Category=rps,...` (bucket size = rate); unset "
        "ones keep Cognito's default quotas",
    )

    deny_cidrs: tuple[Network, ...] = setting(
        "DENY_CIDRS",
        casts.cidrs,
        default=(),
        doc="comma-separated CIDRs answered ForbiddenException (WAF-like)",
    )
    trusted_proxies: tuple[Network, ...] = setting(
        "TRUSTED_PROXIES",
        casts.cidrs,
        default=(),
        doc="CIDRs whose `X-Forwarded-For` / `Forwarded` are believed",
    )

    demo: bool = setting(
        "DEMO",
        casts.boolean,
        default=True,
        doc="on `serve`, create a demo user and device (once) and print a ready-to-paste call",
    )
    log_level: str = setting(
        "LOG_LEVEL",
        casts.log_level,
        default="INFO",
        doc="log level; logs are JSON lines, the banner too unless on a terminal",
    )
    access_log: bool = setting(
        "ACCESS_LOG",
        casts.boolean,
        default=False,
        doc="log every request (method, path, status, type, time in ms to the µs, request id, "
        "the caller's `X-Request-Id`, and the client address `TRUSTED_PROXIES` gives)",
    )
    build_revision: str = setting(
        "BUILD_REVISION",
        casts.text,
        default="",
        shown="*(unset)*",
        doc="the source revision `cognito_build_info` reports (docs/metrics.md)",
    )
    otel_traces_exporter: str = setting(
        "OTEL_TRACES_EXPORTER",
        casts.text,
        default="",
        shown="*(unset: no tracing)*",
        doc="OpenTelemetry span exporters, comma-separated (`console`, `otlp`, …; the `tracing` "
        "extra); the SDK's other `OTEL_*` variables apply (docs/tracing.md)",
    )
    crash_loop_limit: int = setting(
        "CRASH_LOOP_LIMIT",
        casts.positive_int,
        default=5,
        doc="a worker that fails this many times in a row, each within 10 s of its start, stops "
        "the server with exit status 3; restarts wait 0.5 s, 1 s, 2 s, … (at most 8 s)",
    )

    def issuer(self, pool_id: str) -> str:
        """The `iss` claim of tokens from `pool_id`."""
        return f"{self.issuer_base}/{pool_id}"

    @property
    def issuer_base(self) -> str:
        if self.issuer_base_url:
            return self.issuer_base_url.rstrip("/")
        return f"https://cognito-idp.{self.region}.amazonaws.com"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in SPEC:
            raw = env.get(spec.env)
            if raw is None:
                continue
            try:
                values[spec.name] = spec.cast(raw)
            except (ValueError, TypeError) as exc:
                shown = "…" if spec.env == "ADMIN_CREDENTIALS" else repr(mask_url(raw))
                raise SettingsError(f"{spec.env}={shown} is invalid: {exc}") from None
        settings = replace(cls(), **values)
        settings = replace(settings, **overrides)
        settings.check()
        return settings

    def check(self) -> None:
        """Cross-field checks; raise SettingsError naming the variable."""
        schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
        if self.redis_url and not self.redis_url.startswith(schemes):
            raise SettingsError(
                f"REDIS_URL={mask_url(self.redis_url)!r} is invalid: "
                f"expected one of {', '.join(schemes)}"
            )
        for var, url in (
            ("ISSUER_BASE_URL", self.issuer_base_url),
            ("PUBLIC_BASE_URL", self.public_base_url),
        ):
            if url and not url.startswith(("http://", "https://")):
                raise SettingsError(f"{var}={mask_url(url)!r} is invalid: expected an http(s) URL")


# Every setting, in declaration order: a new one is one `setting(...)` field on Settings (and
# its row in docs/settings.md's table, which tests/test_docs.py checks).
SPEC: tuple[Setting, ...] = tuple(declared(f) for f in fields(Settings))

# The environment variable behind each field, for docs and error messages.
ENV_VARS: dict[str, str] = {spec.name: spec.env for spec in SPEC}
