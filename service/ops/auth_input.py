"""Sign-in's input: the request shapes, the flows and challenges it names, the messages of its
refusals, and the checks every flow makes of what the client sent (required parameters, map
members, SECRET_HASH).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from ..model import errors as e
from ..model.clients import AppClient
from ..model.validation import StringMember

CLIENT_ID = StringMember(
    "ClientId", required=True, min_len=1, max_len=128, pattern=r"[\w+]+", sensitive=True
)
USER_POOL_ID = StringMember(
    "UserPoolId", required=True, min_len=1, max_len=55, pattern=r"[\w-]+_[0-9a-zA-Z]+"
)
AUTH_FLOWS = (
    "USER_SRP_AUTH", "REFRESH_TOKEN_AUTH", "REFRESH_TOKEN", "CUSTOM_AUTH", "ADMIN_NO_SRP_AUTH",
    "USER_PASSWORD_AUTH", "ADMIN_USER_PASSWORD_AUTH", "USER_AUTH",
)  # fmt: skip
CHALLENGES = (
    "SMS_MFA", "EMAIL_OTP", "SOFTWARE_TOKEN_MFA", "SELECT_MFA_TYPE", "MFA_SETUP",
    "PASSWORD_VERIFIER", "CUSTOM_CHALLENGE", "SELECT_CHALLENGE", "DEVICE_SRP_AUTH",
    "DEVICE_PASSWORD_VERIFIER", "ADMIN_NO_SRP_AUTH", "NEW_PASSWORD_REQUIRED", "SMS_OTP",
    "PASSWORD", "WEB_AUTHN", "PASSWORD_SRP",
)  # fmt: skip
AUTH_FLOW = StringMember("AuthFlow", required=True, enum=AUTH_FLOWS)
CHALLENGE_NAME = StringMember("ChallengeName", required=True, enum=CHALLENGES)
SESSION = StringMember("Session", min_len=20, max_len=4096, sensitive=True)
# GetTokensFromRefreshToken's members.
REFRESH_TOKEN = StringMember(
    "RefreshToken", required=True, pattern=r"[A-Za-z0-9-_=.]+", sensitive=True
)
CLIENT_SECRET = StringMember(
    "ClientSecret", min_len=24, max_len=64, pattern=r"[\w+]+", sensitive=True
)
DEVICE_KEY = StringMember("DeviceKey", min_len=1, max_len=55, pattern=r"[\w-]+_[0-9a-f-]+")
DEVICE_KEY_RE = re.compile(r"[\w-]+_[0-9a-f-]+", re.ASCII)

# Messages. Captured in public issues: the first four, the session ones and the TIMESTAMP one.
# Inferred (no capture): INVALID_SESSION, FLOW_NOT_ENABLED, UNSUPPORTED_CHALLENGE.
USER_PASSWORD_FLOW_OFF = "USER_PASSWORD_AUTH flow not enabled for this client"  # noqa: S105
FLOW_NOT_ENABLED = "Auth flow not enabled for this client"
FLOW_NOT_SUPPORTED = "Initiate Auth method not supported."
SESSION_EXPIRED = "Invalid session for the user, session is expired."
SESSION_USED = "Invalid session for the user, session can only be used once."
INVALID_SESSION = "Invalid session for the user."
BAD_TIMESTAMP = "TIMESTAMP format should be EEE MMM d HH:mm:ss z yyyy in english."
INVALID_REFRESH = "Invalid Refresh Token"
EXPIRED_REFRESH = "Refresh Token has expired"
REVOKED_REFRESH = "Refresh Token has been revoked"
UNSUPPORTED_CHALLENGE = "The challenge {} is not supported by this service."


def _missing(name: str) -> e.InvalidParameterException:
    return e.InvalidParameterException(f"Missing required parameter {name}")


def _string_map(body: dict[str, Any], name: str) -> dict[str, str]:
    """A map member of string values (AuthParameters, ChallengeResponses); {} when absent."""
    raw = body.get(name)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise e.SerializationException("Start of structure or map found where not expected.")
    for value in raw.values():
        if not isinstance(value, str) and value is not None:
            raise e.SerializationException("NUMBER_VALUE can not be converted to a String")
    return {k: v for k, v in raw.items() if v is not None}


def secret_hash(client_secret: str, username: str, client_id: str) -> str:
    """SECRET_HASH: base64(HMAC-SHA256(client secret, username + client id))."""
    mac = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _check_secret_hash(client: AppClient, given: str | None, *usernames: str) -> None:
    if client.secret is None:
        return
    if not given:
        raise e.NotAuthorizedException(
            f"Client {client.id} is configured with secret but SECRET_HASH was not received"
        )
    for username in usernames:
        # As bytes: compare_digest refuses a str with non-ASCII characters (a 500 otherwise).
        if hmac.compare_digest(
            given.encode(), secret_hash(client.secret, username, client.id).encode()
        ):
            return
    raise e.NotAuthorizedException(f"Unable to verify secret hash for client {client.id}")
