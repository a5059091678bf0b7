"""Sign-in: InitiateAuth and RespondToAuthChallenge (and the logic of their Admin* variants).

Flows: USER_SRP_AUTH (then PASSWORD_VERIFIER), USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH /
REFRESH_TOKEN; ADMIN_USER_PASSWORD_AUTH and ADMIN_NO_SRP_AUTH for AdminInitiateAuth. After the
password: NEW_PASSWORD_REQUIRED for a FORCE_CHANGE_PASSWORD user, DEVICE_SRP_AUTH then
DEVICE_PASSWORD_VERIFIER for a confirmed device the request presents (DEVICE_KEY), and otherwise
tokens, with NewDeviceMetadata when the pool tracks devices and no device was presented.

Passwords are never stored: a user has an SRP salt and verifier (service/srp.py), and the
plain-password flows derive the verifier from the password and compare. A challenge's state
lives in Redis, in the user's slot, for the app client's AuthSessionValidity, and answers one
request only; what the client holds (Session, SECRET_BLOCK) is opaque: the user's name and the
session's id, sealed with the pool's secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import string
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .. import errors as e
from .. import lua, netrules, pool_quota, refresh, srp, tokens
from ..clients import AppClient
from ..connect import Transport
from ..keys import UserKeys, pool_bucket
from ..password_policy import violation
from ..pools import Pool, PoolRegistry
from ..quotas import OPERATIONS, USER_BUCKET_FIELDS
from ..settings import Settings
from ..validation import StringMember, validate

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
DEVICE_KEY_RE = re.compile(r"[\w-]+_[0-9a-f-]+", re.ASCII)

# The failed-sign-in lockout (the developer guide, "User pool lockout behavior": after five
# failed attempts a temporary lockout of 1 s, doubling with each further failure, to about
# 15 minutes; the count resets after 15 minutes without failures).
LOCKOUT_FREE_FAILURES = 5
LOCKOUT_MAX_MS = 15 * 60 * 1000
LOCKOUT_RESET_MS = 15 * 60 * 1000
# RespondToAuthChallenge's own quota: three times UserAuthentication's, for a sign-in's first
# three challenge responses; later ones count toward UserAuthentication (the Quotas page).
CHALLENGE_BUCKET = "RespondToAuthChallenge"
# The challenge responses that prove a secret (and so count toward the lockout).
PROOF_STAGES = frozenset({"PASSWORD_VERIFIER", "DEVICE_PASSWORD_VERIFIER"})
FREE_RESPONSES = 3

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
_GROUP_ALPHABET = string.ascii_letters + string.digits


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


# -- opaque session handles ------------------------------------------------------------------
def _session_cipher(pool: Pool) -> AESGCM:
    return AESGCM(hashlib.sha256(b"cgd-auth-session:" + pool.secret).digest())


def seal_session(pool: Pool, username: str, session_id: str, responses: int) -> str:
    """What the client holds for a challenge (Session, SECRET_BLOCK): opaque, unforgeable."""
    nonce = os.urandom(12)
    payload = orjson.dumps([username, session_id, responses])
    return base64.b64encode(nonce + _session_cipher(pool).encrypt(nonce, payload, None)).decode()


def open_session(pool: Pool, handle: str) -> tuple[str, str, int] | None:
    """(username, session id, responses so far) of a handle this pool sealed, or None."""
    try:
        raw = base64.b64decode(handle, validate=True)
        payload = orjson.loads(_session_cipher(pool).decrypt(raw[:12], raw[12:], None))
        username, session_id, responses = payload
    except (binascii.Error, ValueError, InvalidTag, TypeError):
        return None
    if not isinstance(username, str) or not isinstance(session_id, str):
        return None
    return username, session_id, int(responses)


@dataclass
class UserState:
    """What auth_read.lua answers about a user, its presented device and session."""

    now_ms: int
    sub: str
    status: str
    salt: str
    verifier: str
    device_confirmed: bool
    device_verifier: str
    device_salt: str
    device_group: str
    # This attempt already counts as a failed sign-in (auth_read.lua counted it up front).
    counted: bool
    session: dict[str, str]


@dataclass
class Attempt:
    """One sign-in in progress: who, with which client, and the device it presents."""

    pool: Pool
    client: AppClient
    username: str
    device_key: str | None
    responses: int = 0  # challenge responses answered so far in this sign-in

    @property
    def keys(self) -> UserKeys:
        return UserKeys(self.pool.id, self.pool.gen, self.username)

    def device_hash(self) -> str:
        return self.keys.device(self.device_key or "")


class SignIn:
    """The machinery every sign-in operation shares (one per worker)."""

    def __init__(self, settings: Settings, registry: PoolRegistry, pipe: Transport) -> None:
        self.settings = settings
        self.registry = registry
        self.pipe = pipe
        per_user = OPERATIONS["InitiateAuth"].per_user
        self._bucket: tuple[str, float, int] = ("", 0, 0)
        if per_user is not None:
            self._bucket = (
                USER_BUCKET_FIELDS[per_user],
                settings.user_rate_per_s,
                settings.user_burst,
            )

    # -- pools, clients, quotas ------------------------------------------------------------
    async def client(self, client_id: str, pool_id: str | None = None) -> tuple[Pool, AppClient]:
        pool = self.registry.by_client.get(client_id)
        if pool is None and await self.registry.catch_up():
            pool = self.registry.by_client.get(client_id)
        if pool is None or (pool_id is not None and pool.id != pool_id):
            raise e.ResourceNotFoundException(f"User pool client {client_id} does not exist.")
        if not pool.private_pem:
            raise e.InvalidUserPoolConfigurationException(
                f"User pool {pool.id} trusts outside keys: it cannot sign users in."
            )
        return pool, pool.app_clients[client_id]

    async def quota(self, pool: Pool, category: str, rate_scale: float = 1.0) -> None:
        """Take from a pool-wide bucket (POOL_RATE_LIMIT only)."""
        if not self.settings.pool_rate_limit:
            return
        if category == CHALLENGE_BUCKET:
            rate, burst = pool_quota.category_rate(self.settings, "UserAuthentication")
            rate, burst = rate * FREE_RESPONSES, burst * FREE_RESPONSES
        else:
            rate, burst = pool_quota.category_rate(self.settings, category)
        taken = await self.pipe.evalsha(
            lua.TAKE_TOKEN, (pool_bucket(pool.id, category),), (rate, burst)
        )
        if not taken:
            raise e.TooManyRequestsException(e.THROTTLED)

    def client_ip(self) -> str:
        request = netrules.CURRENT_REQUEST.get()
        addr = (
            None if request is None else netrules.client_ip(request, self.settings.trusted_proxies)
        )
        return str(addr) if addr is not None else ""

    # -- Redis steps -----------------------------------------------------------------------
    async def read(
        self, attempt: Attempt, session_id: str | None = None, *, proves: bool = False
    ) -> UserState:
        """The user's state (and the session, used up), or the refusal as Cognito words it.
        `proves`: the request's password or proof is checked next, so the lockout counts it
        now, in the same script that checks the lockout (a right one starts the count again)."""
        uk = attempt.keys
        session_key = uk.auth_session(session_id or "")
        device = attempt.device_key is not None
        if device and not DEVICE_KEY_RE.fullmatch(attempt.device_key or ""):
            raise e.ResourceNotFoundException(e.DEVICE_NOT_FOUND)
        reply = await self.pipe.evalsha(
            lua.AUTH_READ,
            (uk.user, attempt.device_hash(), session_key),
            (
                *self._bucket,
                "1" if session_id else "0",
                "1" if device else "0",
                "1" if proves else "0",
                LOCKOUT_FREE_FAILURES,
                LOCKOUT_MAX_MS,
                LOCKOUT_RESET_MS,
            ),
        )
        code = reply[0]
        if code != b"OK":
            raise _READ_REFUSALS.get(code, e.NotAuthorizedException)(
                _READ_MESSAGES.get(code, e.INCORRECT_PASSWORD)
            )
        text = [v.decode() if isinstance(v, bytes) else str(v) for v in reply[1:]]
        fields = text[10:]
        return UserState(
            now_ms=int(text[0]),
            sub=text[1],
            status=text[2],
            salt=text[3],
            verifier=text[4],
            device_confirmed=text[5] != "0",
            device_verifier=text[6],
            device_salt=text[7],
            device_group=text[8],
            counted=text[9] == "1",
            session=dict(zip(fields[::2], fields[1::2], strict=True)),
        )

    async def failed(self, attempt: Attempt, state: UserState) -> e.NotAuthorizedException:
        """Count a wrong password or proof toward the lockout, unless the read counted it
        already; the error to raise."""
        if not state.counted:
            await self.pipe.evalsha(
                lua.AUTH_FAIL,
                (attempt.keys.user,),
                (state.sub, LOCKOUT_FREE_FAILURES, LOCKOUT_MAX_MS, LOCKOUT_RESET_MS),
            )
        return e.NotAuthorizedException(e.INCORRECT_PASSWORD)

    async def right_but_refused(self, attempt: Attempt, state: UserState) -> None:
        """The password was right, but signs nobody in: the lockout's count starts again, as
        after a success (the read counted this attempt as a failure up front)."""
        if state.counted:
            await self.pipe.evalsha(lua.AUTH_CLEAR, (attempt.keys.user,), (state.sub,))

    async def challenge(
        self,
        attempt: Attempt,
        state: UserState,
        name: str,
        fields: dict[str, str],
        *,
        password_ok: bool,
    ) -> str:
        """Store the session of challenge `name`; its opaque handle."""
        session_id = secrets.token_urlsafe(24)
        stored = {"stage": name, "sub": state.sub, "client": attempt.client.id, **fields}
        if attempt.device_key:
            stored.setdefault("device", attempt.device_key)
        ttl_ms = attempt.client.auth_session_min * 60 * 1000
        flat = [item for pair in stored.items() for item in pair]
        ok = await self.pipe.evalsha(
            lua.AUTH_PUT,
            (attempt.keys.user, attempt.keys.auth_session(session_id)),
            (state.sub, ttl_ms, "1" if password_ok else "0", *flat),
        )
        if not ok:
            raise e.UserNotFoundException(e.USER_NOT_FOUND)
        return seal_session(attempt.pool, attempt.username, session_id, attempt.responses)

    async def consume(
        self, attempt: Attempt, handle: str | None, stage: str
    ) -> tuple[UserState, dict[str, str]]:
        """Open and use up the session `handle` names, which must be at `stage`. A stage that
        checks a proof next counts toward the lockout now (see read())."""
        opened = open_session(attempt.pool, handle) if handle else None
        if opened is None:
            raise e.NotAuthorizedException(INVALID_SESSION)
        username, session_id, responses = opened
        if username != attempt.username:
            raise e.NotAuthorizedException(INVALID_SESSION)
        attempt.responses = responses + 1
        state = await self.read(attempt, session_id, proves=stage in PROOF_STAGES)
        session = state.session
        if (
            session.get("stage") != stage
            or session.get("sub") != state.sub
            or session.get("client") != attempt.client.id
        ):
            raise e.NotAuthorizedException(INVALID_SESSION)
        return state, session

    # -- after the password ----------------------------------------------------------------
    async def after_password(self, attempt: Attempt, state: UserState) -> dict[str, Any]:
        """The password (or its SRP proof) was right: the next challenge, or tokens."""
        status = state.status
        if status == "UNCONFIRMED":
            await self.right_but_refused(attempt, state)
            raise e.UserNotConfirmedException(e.USER_NOT_CONFIRMED)
        if status == "RESET_REQUIRED":
            raise e.PasswordResetRequiredException(e.PASSWORD_RESET_REQUIRED)
        if status == "FORCE_CHANGE_PASSWORD":
            handle = await self.challenge(
                attempt, state, "NEW_PASSWORD_REQUIRED", {}, password_ok=True
            )
            return {
                "ChallengeName": "NEW_PASSWORD_REQUIRED",
                "ChallengeParameters": {
                    "USER_ID_FOR_SRP": attempt.username,
                    "requiredAttributes": "[]",
                    "userAttributes": "{}",
                },
                "Session": handle,
            }
        if status not in ("CONFIRMED", "EXTERNAL_PROVIDER"):
            await self.right_but_refused(attempt, state)
            raise e.NotAuthorizedException(e.USER_DISABLED)
        return await self.after_new_password(attempt, state, {})

    async def after_new_password(
        self, attempt: Attempt, state: UserState, user_fields: dict[str, str]
    ) -> dict[str, Any]:
        if attempt.device_key and state.device_confirmed and state.device_verifier:
            # A remembered device proves itself next (what AWS's client libraries expect).
            handle = await self.challenge(
                attempt, state, "DEVICE_SRP_AUTH", user_fields, password_ok=True
            )
            return {
                "ChallengeName": "DEVICE_SRP_AUTH",
                "ChallengeParameters": {},
                "Session": handle,
            }
        return await self.tokens(attempt, state.sub, user_fields)

    async def tokens(
        self, attempt: Attempt, sub: str, user_fields: dict[str, str]
    ) -> dict[str, Any]:
        """Mint the sign-in's tokens (access, ID, refresh), registering a new device when the
        pool tracks devices and none was presented."""
        pool, client = attempt.pool, attempt.client
        mode, device_key, group = "", attempt.device_key or "", ""
        if device_key:
            mode = "seen"
        elif pool.device_tracking:
            mode = "new"
            device_key = f"{pool.region}_{uuid.uuid4()}"
            group = "-" + "".join(secrets.choice(_GROUP_ALPHABET) for _ in range(9))
        origin_jti = str(uuid.uuid4())
        uk = attempt.keys
        flat = [item for pair in user_fields.items() for item in pair]
        now_ms = await self.pipe.evalsha(
            lua.AUTH_OK,
            (uk.user, uk.devices, uk.device(device_key), uk.refresh),
            (sub, mode, device_key, group, self.client_ip(), origin_jti, client.id, *flat),
        )
        if now_ms is None:
            raise e.UserNotFoundException(e.USER_NOT_FOUND)
        now = int(now_ms) // 1000
        result = self.mint(
            attempt, sub, now=now, auth_time=now, origin_jti=origin_jti, device_key=device_key
        )
        result["RefreshToken"] = refresh.seal(
            pool,
            refresh.RefreshClaims(
                pool_id=pool.id,
                gen=pool.gen,
                username=attempt.username,
                sub=sub,
                client_id=client.id,
                origin_jti=origin_jti,
                exp=now + client.refresh_token_s,
                iat=now,
                auth_time=now,
                device_key=device_key,
            ),
        )
        if mode == "new":
            result["NewDeviceMetadata"] = {"DeviceKey": device_key, "DeviceGroupKey": group}
        return {"AuthenticationResult": _ordered(result), "ChallengeParameters": {}}

    def mint(
        self,
        attempt: Attempt,
        sub: str,
        *,
        now: int,
        auth_time: int,
        origin_jti: str,
        device_key: str,
    ) -> dict[str, Any]:
        """Access and ID tokens (one event_id and origin_jti, each its own jti)."""
        pool, client = attempt.pool, attempt.client
        event_id = str(uuid.uuid4())
        access = tokens.issue(
            pool=pool,
            signing_kid=pool.kid,
            signing_key=tokens.private_key(pool.private_pem),
            sub=sub,
            username=attempt.username,
            client_id=client.id,
            ttl_s=client.access_token_s,
            device_key=device_key or None,
            now=now,
            origin_jti=origin_jti,
            event_id=event_id,
            auth_time=auth_time,
        )
        id_token = tokens.issue_id(
            pool=pool,
            signing_kid=pool.id_kid,
            signing_key=tokens.private_key(pool.id_private_pem),
            sub=sub,
            username=attempt.username,
            client_id=client.id,
            origin_jti=origin_jti,
            event_id=event_id,
            auth_time=auth_time,
            now=now,
            ttl_s=client.id_token_s,
        )
        return {
            "AccessToken": access,
            "ExpiresIn": client.access_token_s,
            "IdToken": id_token,
            "TokenType": "Bearer",
        }

    # -- the flows -------------------------------------------------------------------------
    async def initiate(
        self, pool: Pool, client: AppClient, flow: str, params: dict[str, str], *, admin: bool
    ) -> dict[str, Any]:
        """InitiateAuth's (admin=False) or AdminInitiateAuth's (admin=True) answer."""
        if flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
            return await self.refresh(pool, client, params)
        password_flows = (
            ("ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH") if admin else ("USER_PASSWORD_AUTH",)
        )
        if flow not in (*password_flows, "USER_SRP_AUTH"):
            raise e.InvalidParameterException(FLOW_NOT_SUPPORTED)
        if flow == "USER_PASSWORD_AUTH" and not client.allows("ALLOW_USER_PASSWORD_AUTH"):
            raise e.InvalidParameterException(USER_PASSWORD_FLOW_OFF)
        if flow == "USER_SRP_AUTH" and not client.allows("ALLOW_USER_SRP_AUTH"):
            raise e.InvalidParameterException(FLOW_NOT_ENABLED)
        if flow.startswith("ADMIN_") and not (
            client.allows("ALLOW_ADMIN_USER_PASSWORD_AUTH") or client.allows("ADMIN_NO_SRP_AUTH")
        ):
            raise e.InvalidParameterException(FLOW_NOT_ENABLED)
        username = params.get("USERNAME")
        if not username:
            raise _missing("USERNAME")
        if flow == "USER_SRP_AUTH":
            if not params.get("SRP_A"):
                raise _missing("SRP_A")
        elif not params.get("PASSWORD"):
            raise _missing("PASSWORD")
        _check_secret_hash(client, params.get("SECRET_HASH"), username)
        attempt = Attempt(pool, client, username, params.get("DEVICE_KEY") or None)
        # USER_SRP_AUTH proves nothing yet (its proof is PASSWORD_VERIFIER's); the others check
        # the password in this request.
        state = await self.read(attempt, proves=flow != "USER_SRP_AUTH")
        if state.status == "RESET_REQUIRED":
            raise e.PasswordResetRequiredException(e.PASSWORD_RESET_REQUIRED)
        if flow == "USER_SRP_AUTH":
            if not state.verifier:
                raise await self.failed(attempt, state)
            try:
                b_hex, key = srp.server_step(state.verifier, params["SRP_A"])
            except ValueError:
                raise e.InvalidParameterException("SRP_A is not a valid SRP value.") from None
            handle = await self.challenge(
                attempt, state, "PASSWORD_VERIFIER", {"key": key.hex()}, password_ok=False
            )
            return {
                "ChallengeName": "PASSWORD_VERIFIER",
                "ChallengeParameters": {
                    "SALT": state.salt,
                    "SECRET_BLOCK": handle,
                    "SRP_B": b_hex,
                    "USERNAME": username,
                    "USER_ID_FOR_SRP": username,
                },
            }
        if not state.verifier or not srp.check_password(
            pool.id, username, params["PASSWORD"], state.salt, state.verifier
        ):
            raise await self.failed(attempt, state)
        return await self.after_password(attempt, state)

    async def respond(
        self, pool: Pool, client: AppClient, name: str, session: str | None, answers: dict[str, str]
    ) -> dict[str, Any]:
        """RespondToAuthChallenge's (and AdminRespondToAuthChallenge's) answer."""
        if name not in (
            "PASSWORD_VERIFIER",
            "DEVICE_SRP_AUTH",
            "DEVICE_PASSWORD_VERIFIER",
            "NEW_PASSWORD_REQUIRED",
        ):
            raise e.InvalidParameterException(UNSUPPORTED_CHALLENGE.format(name))
        username = answers.get("USERNAME")
        if not username:
            raise _missing("USERNAME")
        _check_secret_hash(client, answers.get("SECRET_HASH"), username)
        attempt = Attempt(pool, client, username, answers.get("DEVICE_KEY") or None)
        if name in ("PASSWORD_VERIFIER", "DEVICE_PASSWORD_VERIFIER"):
            return await self._verifier(attempt, name, session, answers)
        if name == "DEVICE_SRP_AUTH":
            return await self._device_srp(attempt, session, answers)
        return await self._new_password(attempt, session, answers)

    async def challenge_quota(self, pool: Pool, name: str, session: str | None) -> None:
        """RespondToAuthChallenge's pool-wide quota: a sign-in's first three responses draw
        from a bucket three times UserAuthentication's, later ones from UserAuthentication;
        NEW_PASSWORD_REQUIRED from UserAccountRecovery."""
        if not self.settings.pool_rate_limit:
            return
        if name == "NEW_PASSWORD_REQUIRED":
            await self.quota(pool, "UserAccountRecovery")
            return
        opened = open_session(pool, session) if session else None
        answered = opened[2] if opened else 0
        await self.quota(
            pool, CHALLENGE_BUCKET if answered < FREE_RESPONSES else "UserAuthentication"
        )

    async def _verifier(
        self, attempt: Attempt, name: str, session: str | None, answers: dict[str, str]
    ) -> dict[str, Any]:
        for member in ("PASSWORD_CLAIM_SECRET_BLOCK", "PASSWORD_CLAIM_SIGNATURE", "TIMESTAMP"):
            if not answers.get(member):
                raise _missing(member)
        block = answers["PASSWORD_CLAIM_SECRET_BLOCK"]
        stamp = answers["TIMESTAMP"]
        if srp.parse_timestamp(stamp) is None:
            raise e.InvalidParameterException(BAD_TIMESTAMP)
        if name == "DEVICE_PASSWORD_VERIFIER" and not attempt.device_key:
            raise _missing("DEVICE_KEY")
        # The SECRET_BLOCK is the session's handle (USER_SRP_AUTH's answer carries no Session).
        state, stored = await self.consume(attempt, block, name)
        if session and session != block:
            raise e.NotAuthorizedException(INVALID_SESSION)
        try:
            block_bytes = base64.b64decode(block, validate=True)
            key = bytes.fromhex(stored.get("key", ""))
        except (binascii.Error, ValueError):
            raise e.NotAuthorizedException(INVALID_SESSION) from None
        if name == "PASSWORD_VERIFIER":
            realm, user = srp.pool_name(attempt.pool.id), attempt.username
        else:
            if stored.get("device") != attempt.device_key:
                raise e.NotAuthorizedException(INVALID_SESSION)
            realm, user = stored.get("group", ""), attempt.device_key or ""
        signature = answers["PASSWORD_CLAIM_SIGNATURE"]
        if not srp.check_claim(key, realm, user, block_bytes, stamp, signature):
            raise await self.failed(attempt, state)
        if name == "PASSWORD_VERIFIER":
            return await self.after_password(attempt, state)
        return await self.tokens(attempt, state.sub, _user_fields(stored))

    async def _device_srp(
        self, attempt: Attempt, session: str | None, answers: dict[str, str]
    ) -> dict[str, Any]:
        if not attempt.device_key:
            raise _missing("DEVICE_KEY")
        if not answers.get("SRP_A"):
            raise _missing("SRP_A")
        state, stored = await self.consume(attempt, session, "DEVICE_SRP_AUTH")
        if stored.get("device") != attempt.device_key:
            raise e.NotAuthorizedException(INVALID_SESSION)
        if not (state.device_confirmed and state.device_verifier and state.device_salt):
            raise e.ResourceNotFoundException(e.DEVICE_NOT_FOUND)
        try:
            verifier_hex = base64.b64decode(state.device_verifier).hex()
            salt_hex = base64.b64decode(state.device_salt).hex()
            b_hex, key = srp.server_step(verifier_hex, answers["SRP_A"])
        except (binascii.Error, ValueError):
            raise e.InvalidParameterException("SRP_A is not a valid SRP value.") from None
        fields = {"key": key.hex(), "group": state.device_group, **_carried(stored)}
        handle = await self.challenge(
            attempt, state, "DEVICE_PASSWORD_VERIFIER", fields, password_ok=True
        )
        return {
            "ChallengeName": "DEVICE_PASSWORD_VERIFIER",
            "ChallengeParameters": {
                "DEVICE_KEY": attempt.device_key,
                "SALT": salt_hex,
                "SECRET_BLOCK": handle,
                "SRP_B": b_hex,
                "USERNAME": attempt.username,
            },
            "Session": handle,
        }

    async def _new_password(
        self, attempt: Attempt, session: str | None, answers: dict[str, str]
    ) -> dict[str, Any]:
        new_password = answers.get("NEW_PASSWORD")
        if not new_password:
            raise _missing("NEW_PASSWORD")
        # Checked before the session is used up: a password the policy refuses can be retried.
        problem = violation(attempt.pool.password_policy, new_password)
        if problem is not None:
            raise e.InvalidPasswordException(problem)
        state, stored = await self.consume(attempt, session, "NEW_PASSWORD_REQUIRED")
        attempt.device_key = stored.get("device") or attempt.device_key
        salt, verifier = srp.password_verifier(attempt.pool.id, attempt.username, new_password)
        user_fields = {"srp_salt": salt, "srp_verifier": verifier, "status": "CONFIRMED"}
        return await self.after_new_password(attempt, state, user_fields)

    async def refresh(
        self, pool: Pool, client: AppClient, params: dict[str, str]
    ) -> dict[str, Any]:
        """REFRESH_TOKEN_AUTH: new access and ID tokens, the same origin_jti and auth_time."""
        if not client.allows("ALLOW_REFRESH_TOKEN_AUTH"):
            raise e.InvalidParameterException(FLOW_NOT_ENABLED)
        token = params.get("REFRESH_TOKEN")
        if not token:
            raise _missing("REFRESH_TOKEN")
        claims = refresh.unseal(pool, token)
        if claims is None or claims.gen != pool.gen or claims.pool_id != pool.id:
            raise e.NotAuthorizedException(INVALID_REFRESH)
        if claims.client_id != client.id:
            raise e.NotAuthorizedException(INVALID_REFRESH)
        _check_secret_hash(
            client, params.get("SECRET_HASH"), params.get("USERNAME") or claims.username,
            claims.username, claims.sub,
        )  # fmt: skip
        attempt = Attempt(pool, client, claims.username, claims.device_key or None)
        iat = claims.iat or claims.exp - refresh.DEFAULT_TTL_S
        reply = await self.pipe.evalsha(
            lua.AUTH_REFRESH,
            (attempt.keys.user, attempt.keys.refresh, attempt.device_hash()),
            (claims.sub, claims.origin_jti, client.id, iat * 1000, self.client_ip()),
        )
        code = reply[0]
        if code == b"NO_USER":
            raise e.UserNotFoundException(e.USER_NOT_FOUND)
        if code == b"REVOKED":
            raise e.NotAuthorizedException(REVOKED_REFRESH)
        if code == b"DISABLED":
            raise e.NotAuthorizedException(e.USER_DISABLED)
        if code == b"STATUS":
            if reply[1] in (b"RESET_REQUIRED", b"FORCE_CHANGE_PASSWORD"):
                raise e.PasswordResetRequiredException(e.PASSWORD_RESET_REQUIRED)
            if reply[1] == b"UNCONFIRMED":
                raise e.UserNotConfirmedException(e.USER_NOT_CONFIRMED)
            raise e.NotAuthorizedException(e.USER_DISABLED)
        now = int(reply[1]) // 1000
        if claims.exp <= now:
            raise e.NotAuthorizedException(EXPIRED_REFRESH)
        result = self.mint(
            attempt,
            claims.sub,
            now=now,
            auth_time=claims.auth_time or now,
            origin_jti=claims.origin_jti,
            device_key=claims.device_key,
        )
        return {"AuthenticationResult": _ordered(result), "ChallengeParameters": {}}


_READ_REFUSALS: dict[bytes, type[e.CognitoError]] = {
    b"NO_USER": e.UserNotFoundException,
    b"NO_DEVICE": e.ResourceNotFoundException,
    b"NO_SESSION": e.NotAuthorizedException,
    b"USED_SESSION": e.NotAuthorizedException,
    b"THROTTLED": e.TooManyRequestsException,
    b"DISABLED": e.NotAuthorizedException,
    b"LOCKED": e.NotAuthorizedException,
}
_READ_MESSAGES: dict[bytes, str] = {
    b"NO_USER": e.USER_NOT_FOUND,
    b"NO_DEVICE": e.DEVICE_NOT_FOUND,
    b"NO_SESSION": SESSION_EXPIRED,
    b"USED_SESSION": SESSION_USED,
    b"THROTTLED": e.THROTTLED,
    b"DISABLED": e.USER_DISABLED,
    b"LOCKED": e.PASSWORD_ATTEMPTS_EXCEEDED,
}
_USER_FIELDS = ("srp_salt", "srp_verifier", "status")


def _carried(stored: dict[str, str]) -> dict[str, str]:
    """What a session passes on to the next one (a new password not yet written)."""
    return {name: stored[name] for name in _USER_FIELDS if name in stored}


def _user_fields(stored: dict[str, str]) -> dict[str, str]:
    return _carried(stored)


def _ordered(result: dict[str, Any]) -> dict[str, Any]:
    """AuthenticationResult's members in the order real answers list them."""
    order = ("AccessToken", "ExpiresIn", "IdToken", "NewDeviceMetadata", "RefreshToken")
    ordered = {name: result[name] for name in order if name in result}
    ordered["TokenType"] = result["TokenType"]
    return ordered


# -- the operations --------------------------------------------------------------------------
class InitiateAuth:
    """InitiateAuth: USER_SRP_AUTH, USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH / REFRESH_TOKEN."""

    name = "InitiateAuth"
    shape = (AUTH_FLOW, CLIENT_ID)

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    async def __call__(self, body: dict[str, Any]) -> bytes:
        values = validate(body, self.shape)
        params = _string_map(body, "AuthParameters")
        pool, client = await self.signin.client(values["ClientId"])
        await self.signin.quota(pool, "UserAuthentication")
        answer = await self.signin.initiate(pool, client, values["AuthFlow"], params, admin=False)
        return orjson.dumps(answer)


class RespondToAuthChallenge:
    """RespondToAuthChallenge: PASSWORD_VERIFIER, NEW_PASSWORD_REQUIRED, DEVICE_SRP_AUTH,
    DEVICE_PASSWORD_VERIFIER."""

    name = "RespondToAuthChallenge"
    shape = (CLIENT_ID, CHALLENGE_NAME, SESSION)

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    async def __call__(self, body: dict[str, Any]) -> bytes:
        values = validate(body, self.shape)
        answers = _string_map(body, "ChallengeResponses")
        pool, client = await self.signin.client(values["ClientId"])
        name, session = values["ChallengeName"], values["Session"]
        await self.signin.challenge_quota(
            pool, name, session or answers.get("PASSWORD_CLAIM_SECRET_BLOCK")
        )
        return orjson.dumps(await self.signin.respond(pool, client, name, session, answers))


class AdminInitiateAuth:
    """AdminInitiateAuth: ADMIN_USER_PASSWORD_AUTH, ADMIN_NO_SRP_AUTH (and USER_SRP_AUTH,
    REFRESH_TOKEN_AUTH). SigV4-signed: service/api.py checks the signature first."""

    name = "AdminInitiateAuth"
    shape = (USER_POOL_ID, CLIENT_ID, AUTH_FLOW)

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    async def __call__(self, body: dict[str, Any]) -> bytes:
        values = validate(body, self.shape)
        params = _string_map(body, "AuthParameters")
        pool, client = await self.signin.client(values["ClientId"], values["UserPoolId"])
        await self.signin.quota(pool, "UserAuthentication")
        answer = await self.signin.initiate(pool, client, values["AuthFlow"], params, admin=True)
        return orjson.dumps(answer)


class AdminRespondToAuthChallenge:
    """AdminRespondToAuthChallenge: as RespondToAuthChallenge, with the pool named (SigV4)."""

    name = "AdminRespondToAuthChallenge"
    shape = (USER_POOL_ID, CLIENT_ID, CHALLENGE_NAME, SESSION)

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    async def __call__(self, body: dict[str, Any]) -> bytes:
        values = validate(body, self.shape)
        answers = _string_map(body, "ChallengeResponses")
        pool, client = await self.signin.client(values["ClientId"], values["UserPoolId"])
        name, session = values["ChallengeName"], values["Session"]
        await self.signin.challenge_quota(
            pool, name, session or answers.get("PASSWORD_CLAIM_SECRET_BLOCK")
        )
        return orjson.dumps(await self.signin.respond(pool, client, name, session, answers))
