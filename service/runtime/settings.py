"""Every setting, declared once (`setting(...)` on Settings) and read from the environment in
exactly one place (`Settings.from_env()`)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar, overload

from ..model.quotas import CATEGORY_RPS

T = TypeVar("T")

POOL_ID_RE = re.compile(r"[\w-]+_[0-9a-zA-Z]+", re.ASCII)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false")


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError("expected a positive number")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError("expected a number >= 0")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("expected a positive integer")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number 0..65535")
    return value


_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _network(item: str) -> Network:
    net = ipaddress.ip_network(item, strict=False)
    # Client addresses are matched as IPv4 when they are IPv4-mapped (service/runtime/netrules.py),
    # so a rule written as ::ffff:a.b.c.d/n is the IPv4 rule it stands for.
    if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(_V4_MAPPED):
        mapped = net.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, net.prefixlen - 96))
    return net


def _cidrs(raw: str) -> tuple[Network, ...]:
    items = [item.strip() for item in raw.split(",") if item.strip()]
    return tuple(_network(item) for item in items)


def _category_rates(raw: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in CATEGORY_RPS:
            raise ValueError(
                f"expected Category=rps pairs with categories of {', '.join(CATEGORY_RPS)}"
            )
        rates[name.strip()] = _positive_float(value)
    return rates


def _pool_id(raw: str) -> str:
    if not POOL_ID_RE.fullmatch(raw) or len(raw) > 55:
        raise ValueError("expected a user pool id such as us-east-1_EXAMPLE")
    return raw


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "cognito-device-api")


def _str(raw: str) -> str:
    return raw


def _region(raw: str) -> str:
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", raw):
        raise ValueError("expected an AWS region such as us-east-1")
    return raw


def _account(raw: str) -> str:
    if not re.fullmatch(r"\d{12}", raw):
        raise ValueError("expected 12 digits")
    return raw


_ACCESS_KEY_RE = re.compile(r"[\w]{1,128}", re.ASCII)


def _credentials(raw: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, secret = item.partition(":")
        if not sep or not _ACCESS_KEY_RE.fullmatch(key) or not secret or " " in secret:
            # Never echo the value: it holds secrets.
            raise ValueError("expected ACCESS_KEY_ID:SECRET_ACCESS_KEY pairs, comma-separated")
        pairs[key] = secret
    return pairs


# A `password=` query parameter (redis-py takes one, as it takes `user:password@`).
_PASSWORD_PARAM_RE = re.compile(r"([?&;]password=)[^&;#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with its password hidden, for error messages (as ADMIN_CREDENTIALS is: "…").

    The whole userinfo goes, user name included: a mistyped URL may hold the password where
    the user name belongs (`redis://secret@host`), and the last `@` ends it (an unencoded `@`
    or `/` in a password must not leave half of it shown)."""
    at = url.rfind("@")
    if at >= 0:
        start = url.find("//")
        start = start + 2 if 0 <= start < at else 0
        url = url[:start] + "…" + url[at:]
    return _PASSWORD_PARAM_RE.sub(r"\1…", url)


_MISSING: Any = MISSING


@overload
def setting(env: str, cast: Callable[[str], T], *, default: T, doc: str, shown: str = "") -> T: ...
@overload
def setting(
    env: str, cast: Callable[[str], T], *, factory: Callable[[], T], doc: str, shown: str = ""
) -> T: ...
def setting(
    env: str,
    cast: Callable[[str], Any],
    *,
    default: Any = _MISSING,
    factory: Any = _MISSING,
    doc: str,
    shown: str = "",
) -> Any:
    """A Settings field read from `env` with `cast` (which raises ValueError on a bad value).

    `doc` is the setting's meaning and `shown` its default as README.md's settings table gives
    them (`shown` only where the default is not a value one would write, such as an empty URL
    that means "computed"); tests/test_settings.py checks the table against these.
    """
    metadata = {"env": env, "cast": cast, "doc": doc, "shown": shown}
    return field(default=default, default_factory=factory, metadata=metadata)


@dataclass(frozen=True)
class Setting:
    """One setting, as declared on Settings."""

    name: str  # the Settings field
    env: str
    cast: Callable[[str], Any]
    doc: str
    shown: str


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Build it with `Settings.from_env()`."""

    # Where Redis is. Empty means: start (or reuse) the embedded redis-server.
    redis_url: str = setting(
        "REDIS_URL",
        _str,
        default="",
        shown="*(unset: embedded)*",
        doc="`redis://`, `rediss://` or `unix://` URL of the Redis to use; "
        "`redis+cluster://host:port,...` (or `rediss+cluster://`) for a Redis Cluster",
    )
    redis_server: str = setting(
        "REDIS_SERVER",
        _str,
        default="",
        shown="*(search)*",
        doc="`redis-server` binary for the embedded Redis",
    )
    data_dir: str = setting(
        "DATA_DIR",
        _str,
        factory=_default_data_dir,
        shown="`~/.local/share/cognito-device-api`",
        doc="the embedded Redis's directory (socket, AOF)",
    )
    redis_timeout_s: float = setting(
        "REDIS_TIMEOUT_S", _positive_float, default=1.0, doc="every Redis call's timeout, seconds"
    )
    redis_max_inflight: int = setting(
        "REDIS_MAX_INFLIGHT",
        _positive_int,
        default=20000,
        doc="commands waiting on Redis per worker before new ones are shed",
    )

    host: str = setting(
        "HOST", _str, default="127.0.0.1", doc="listen address (`0.0.0.0` in the container)"
    )
    port: int = setting("PORT", _port, default=9229, doc="listen port")
    workers: int = setting(
        "WORKERS", _positive_int, default=1, doc="worker processes sharing one listening socket"
    )
    grace_s: float = setting(
        "GRACE_S",
        _positive_float,
        default=10.0,
        doc="on SIGTERM, how long in-flight requests may take to finish",
    )
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES", _positive_int, default=65536, doc="request body limit"
    )
    body_timeout_s: float = setting(
        "BODY_TIMEOUT_S",
        _positive_float,
        default=10.0,
        doc="a client slower than this to send its body gets RequestTimeoutException (408)",
    )
    header_timeout_s: float = setting(
        "HEADER_TIMEOUT_S",
        _positive_float,
        default=10.0,
        doc="a request head (request line and headers) must arrive within this of the connection "
        "opening, or of its first byte after the previous answer; else "
        "RequestTimeoutException (408) and the connection closes (nginx's "
        "`client_header_timeout` is the same 10 s)",
    )
    keepalive_timeout_s: float = setting(
        "KEEPALIVE_TIMEOUT_S",
        _positive_float,
        default=75.0,
        doc="an idle kept-alive connection closes after this; longer than any proxy's idle pool "
        "(nginx 60 s in deploy/nginx.conf, AWS load balancers 60 s), so the service never "
        "closes a connection a proxy is about to reuse",
    )

    region: str = setting("REGION", _region, default="us-east-1", doc="region in issuers and ARNs")
    account_id: str = setting(
        "ACCOUNT_ID", _account, default="000000000000", doc="account id in device ARNs"
    )
    admin_credentials: Mapping[str, str] = setting(
        "ADMIN_CREDENTIALS",
        _credentials,
        factory=dict,
        shown="*(unset: one pair made and kept in Redis)*",
        doc="the credentials that may sign admin calls (SigV4): comma-separated "
        "`ACCESS_KEY_ID:SECRET_ACCESS_KEY` pairs; unset, `serve` makes one pair and stores it in "
        "Redis, and `python -m service admin-credentials` prints it (the banner shows the "
        "secret only on a terminal or with `DEMO` on)",
    )
    default_pool_id: str = setting(
        "DEFAULT_POOL_ID",
        _pool_id,
        default="us-east-1_LocalPool",
        doc="the pool that exists without set-up",
    )
    issuer_base_url: str = setting(
        "ISSUER_BASE_URL",
        _str,
        default="",
        shown="`https://cognito-idp.<REGION>.amazonaws.com`",
        doc="tokens' `iss` is `<base>/<poolId>`",
    )
    public_base_url: str = setting(
        "PUBLIC_BASE_URL",
        _str,
        default="",
        shown="*(the issuer's)*",
        doc="where clients reach this service: `openid-configuration`'s `jwks_uri` is "
        "`<base>/<poolId>/.well-known/jwks.json`; unset, `<issuer>/.well-known/jwks.json` as "
        "Cognito publishes it (never the request's `Host`)",
    )
    pool_refresh_s: float = setting(
        "POOL_REFRESH_S",
        _positive_float,
        default=1.0,
        doc="how often workers check whether pools changed",
    )
    claims_cache_max_ttl_s: int = setting(
        "CLAIMS_CACHE_MAX_TTL_S",
        _positive_int,
        default=3600,
        doc="longest life of a cached verified token (never past its `exp`)",
    )
    route_cache_size: int = setting(
        "ROUTE_CACHE_SIZE",
        _positive_int,
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
        _non_negative_float,
        default=5.0,
        doc="for pools that trust outside keys: a sign-out also revokes their tokens issued up to"
        " this long after it (another clock minted their `iat`)",
    )

    user_rate_per_s: float = setting(
        "USER_RATE_PER_S",
        _positive_float,
        default=10.0,
        doc="per-user bucket refill, for each of a user's three buckets (Cognito's per-user "
        "quotas: reads such as GetDevice and ListDevices, writes such as UpdateDeviceStatus, "
        "and sign-in attempts, kept apart so that no one throttles a user's token calls)",
    )
    user_burst: int = setting("USER_BURST", _positive_int, default=10, doc="per-user bucket size")
    pool_rate_limit: bool = setting(
        "POOL_RATE_LIMIT",
        _bool,
        default=False,
        doc="also apply a pool-wide bucket per quota category (service/model/quotas.py: "
        "UserResourceRead, UserResourceUpdate, UserUpdate, UserToken, ...)",
    )
    pool_rate_per_s: float = setting(
        "POOL_RATE_PER_S", _positive_float, default=50.0, doc="UserResourceRead's pool-wide refill"
    )
    pool_burst: int = setting(
        "POOL_BURST", _positive_int, default=50, doc="UserResourceRead's pool-wide bucket size"
    )
    category_rates: Mapping[str, float] = setting(
        "CATEGORY_RATES",
        _category_rates,
        factory=dict,
        shown="*(Cognito's defaults)*",
        doc="other categories' pool-wide rates, `Category=rps,...` (bucket size = rate); unset "
        "ones keep Cognito's default quotas",
    )

    deny_cidrs: tuple[Network, ...] = setting(
        "DENY_CIDRS",
        _cidrs,
        default=(),
        doc="comma-separated CIDRs answered ForbiddenException (WAF-like)",
    )
    trusted_proxies: tuple[Network, ...] = setting(
        "TRUSTED_PROXIES",
        _cidrs,
        default=(),
        doc="CIDRs whose `X-Forwarded-For` / `Forwarded` are believed",
    )

    demo: bool = setting(
        "DEMO",
        _bool,
        default=True,
        doc="on `serve`, create a demo user and device (once) and print a ready-to-paste call",
    )
    log_level: str = setting(
        "LOG_LEVEL",
        _log_level,
        default="INFO",
        doc="log level; logs are JSON lines, the banner too unless on a terminal",
    )
    access_log: bool = setting(
        "ACCESS_LOG",
        _bool,
        default=False,
        doc="log every request (method, path, status, type, time in ms to the µs, request id, "
        "the caller's `X-Request-Id`, and the client address `TRUSTED_PROXIES` gives)",
    )
    build_revision: str = setting(
        "BUILD_REVISION",
        _str,
        default="",
        shown="*(unset)*",
        doc="the source revision `cognito_build_info` reports (docs/metrics.md)",
    )
    otel_traces_exporter: str = setting(
        "OTEL_TRACES_EXPORTER",
        _str,
        default="",
        shown="*(unset: no tracing)*",
        doc="OpenTelemetry span exporters, comma-separated (`console`, `otlp`, …; the `tracing` "
        "extra); the SDK's other `OTEL_*` variables apply (docs/tracing.md)",
    )
    crash_loop_limit: int = setting(
        "CRASH_LOOP_LIMIT",
        _positive_int,
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


def _declared(f: Field[Any]) -> Setting:
    if "env" not in f.metadata:
        raise TypeError(f"Settings.{f.name} is not declared with setting(...)")
    m = f.metadata
    return Setting(f.name, m["env"], m["cast"], m["doc"], m["shown"])


# Every setting, in declaration order: a new one is one `setting(...)` field on Settings (and
# its row in README.md's table, which tests/test_settings.py checks).
SPEC: tuple[Setting, ...] = tuple(_declared(f) for f in fields(Settings))

# The environment variable behind each field, for docs and error messages.
ENV_VARS: dict[str, str] = {spec.name: spec.env for spec in SPEC}
