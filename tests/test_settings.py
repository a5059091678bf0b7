"""Settings come from the environment in one place; a bad value stops with one clear line."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

import pytest

from service.runtime.settings import ENV_VARS, Settings, SettingsError
from tests.conftest import PROJECT


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.port == 9229
    assert s.user_rate_per_s == 10.0 and s.user_burst == 10
    assert s.pool_rate_limit is False and s.pool_rate_per_s == 50.0
    assert s.max_body_bytes == 65536
    assert s.issuer("us-east-1_X") == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X"


def test_every_field_has_a_variable() -> None:
    assert len(set(ENV_VARS.values())) == len(ENV_VARS)


def test_values_are_parsed() -> None:
    s = Settings.from_env(
        {
            "PORT": "8080",
            "USER_BURST": "3",
            "POOL_RATE_LIMIT": "true",
            "DENY_CIDRS": "10.0.0.0/8, 2001:db8::/32",
            "ISSUER_BASE_URL": "http://localhost:9229/",
        }
    )
    assert s.port == 8080 and s.user_burst == 3 and s.pool_rate_limit
    assert s.deny_cidrs == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert s.issuer("us-east-1_A") == "http://localhost:9229/us-east-1_A"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("USER_RATE_PER_S", "0"),
        ("USER_RATE_PER_S", "nan"),
        ("USER_BURST", "-1"),
        ("WORKERS", "0"),
        ("REDIS_TIMEOUT_S", "-2"),
        ("POOL_RATE_LIMIT", "maybe"),
        ("DENY_CIDRS", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "not-an-ip"),
        ("DEFAULT_POOL_ID", "nounderscore"),
        ("REGION", "mars"),
        ("ACCOUNT_ID", "12"),
        ("LOG_LEVEL", "LOUD"),
        ("REDIS_URL", "http://localhost"),
        ("ISSUER_BASE_URL", "ftp://x"),
        ("PUBLIC_BASE_URL", "edge.example"),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({var: value})
    assert str(info.value).startswith(f"{var}=")


@pytest.mark.parametrize(
    ("var", "value", "shown"),
    [
        ("REDIS_URL", "http://:s3cr3t-pw@redis:6379/0", "http://…@redis:6379/0"),
        ("REDIS_URL", "redis-cluster://admin:s3cr3t/pw@r:7000", "redis-cluster://…@r:7000"),
        ("REDIS_URL", "s3cr3t-pw@redis:6379", "…@redis:6379"),
        ("REDIS_URL", "tcp://redis?password=s3cr3t-pw&db=1", "tcp://redis?password=…&db=1"),
        ("ISSUER_BASE_URL", "ftp://u:s3cr3t-pw@idp", "ftp://…@idp"),
        ("PUBLIC_BASE_URL", "u:s3cr3t-pw@edge.example", "…@edge.example"),
    ],
)
def test_bad_urls_are_named_without_their_password(var: str, value: str, shown: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({var: value})
    assert "s3cr3t" not in str(info.value)
    assert str(info.value).startswith(f"{var}={shown!r} is invalid")


def test_cli_stops_with_one_line() -> None:
    env = {**os.environ, "USER_BURST": "lots"}
    proc = subprocess.run(
        [sys.executable, "-m", "service", "serve"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: USER_BURST='lots' is invalid: invalid literal for int() with base 10: 'lots'"
    ]


# The settings table (docs/settings.md) is checked against SPEC in tests/test_docs.py.
