"""TLS for the hot path, built from a `rediss://` URL exactly as redis-py builds its own.

The hot pipe (transport.RedisPipe) opens its sockets itself, so it must make the same
`ssl.SSLContext` that redis-py's admin client makes from the same URL: a private CA
(`ssl_ca_certs`, `ssl_ca_path`, `ssl_ca_data`), a client certificate (`ssl_certfile`,
`ssl_keyfile`, `ssl_password`), `ssl_cert_reqs`, `ssl_check_hostname`, `ssl_min_version`,
`ssl_ciphers` and the verify flags. Before, it used a bare `ssl.create_default_context()`:
with a private CA the admin client connected and every worker failed on
CERTIFICATE_VERIFY_FAILED, and a server requiring client certificates could not be reached.

Rather than copy redis-py's option handling (and drift from it), the context comes from
redis-py's own `SSLConnection`, made and never connected: whatever its URL parser and that
class accept, this accepts, with the same defaults (certificates required, host name checked)
and the same errors for a bad value.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from redis.asyncio.connection import SSLConnection


def context(params: Mapping[str, Any]) -> ssl.SSLContext | None:
    """The SSL context for `params` (redis-py's parse_url of a REDIS_URL), or None if the URL
    is not `rediss://`. Raises ValueError for a TLS option redis-py would refuse, and OSError or
    ssl.SSLError for a certificate file that cannot be read."""
    if params.get("connection_class") is not SSLConnection:
        return None
    # Only the ssl_* options: the hot pipe has its own timeouts (REDIS_TIMEOUT_S) and speaks
    # RESP2 only, so the URL's socket_timeout, protocol and the like do not apply to it.
    try:
        conn = SSLConnection(**tls_options(params))
    except TypeError as exc:  # an ssl_* name redis-py does not know
        raise ValueError(f"unknown TLS option in REDIS_URL: {exc}") from None
    except Exception as exc:  # redis.RedisError: e.g. ssl_cert_reqs=sometimes
        raise ValueError(f"bad TLS option in REDIS_URL: {exc}") from None
    return conn.ssl_context.get()


def tls_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The `ssl_*` options in `params`, under redis-py's names (its RedisCluster takes them as
    keyword arguments, as SSLConnection does)."""
    return {k: v for k, v in params.items() if k.startswith("ssl_")}
