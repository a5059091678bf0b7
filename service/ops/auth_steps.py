"""Sign-in's shared state and Redis steps: the attempt in progress (Attempt), what Redis
answers about its user (UserState), and Steps, which finds the pool and app client, takes the
pool-wide quotas, and runs the scripts that read the user (and use up a session), count a failure
toward the lockout, and store a challenge's session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..credentials.pool import Pool
from ..credentials.pools import PoolRegistry, pools_version_reader
from ..model import errors as e
from ..model.clients import AppClient
from ..model.quotas import OPERATIONS, USER_BUCKET_FIELDS
from ..redis_io import lua
from ..redis_io.connect import Transport
from ..redis_io.keys import UserKeys, pool_bucket
from ..runtime import netrules
from ..runtime.settings import Settings
from ..sessions import pool_quota
from .auth_handles import open_session, seal_session
from .auth_input import DEVICE_KEY_RE, INVALID_SESSION, SESSION_EXPIRED, SESSION_USED

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


class Steps:
    """The machinery every sign-in operation shares (one per worker)."""

    def __init__(self, settings: Settings, registry: PoolRegistry, pipe: Transport) -> None:
        self.settings = settings
        self.registry = registry
        self.pipe = pipe
        self._read_version = pools_version_reader(pipe)
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
        """The pool and app client every sign-in flow (refresh included) starts from, as Redis
        holds them now: a client created a moment ago signs users in, and a client, pool or
        auth flow removed a moment ago signs no one in, whichever worker the admin call went
        to. Costs one version read per sign-in through the hot pipe, written out with whatever
        concurrent requests send: measured 68 us a call one at a time (a bare EVALSHA round
        trip: 63), 11 to 18 us a call with 16 to 64 at once, against about 20 ms for a whole
        USER_PASSWORD_AUTH sign-in on the same machine; a reload only when the pools changed."""
        await self.registry.ensure_fresh(self._read_version)
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
            raise e.TooManyRequestsException(e.THROTTLED, quota="pool")

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
        if code == b"THROTTLED":  # the user's sign-in bucket
            raise e.TooManyRequestsException(e.THROTTLED, quota="signin")
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
        # pw: the password this session was begun under (its salt, which every password change
        # makes afresh); auth_read.lua refuses the session once the user's differs.
        stored = {
            "stage": name,
            "sub": state.sub,
            "client": attempt.client.id,
            "pw": state.salt,
            **fields,
        }
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
        try:
            state = await self.read(attempt, session_id, proves=stage in PROOF_STAGES)
        except e.UserNotFoundException:
            # A session of a user who does not exist (or no longer does): with
            # PreventUserExistenceErrors, what a wrong proof gets (USER_SRP_AUTH answers an
            # unknown user a simulated challenge, whose proof ends here).
            if attempt.client.prevent_user_existence_errors:
                raise e.NotAuthorizedException(e.INCORRECT_PASSWORD) from None
            raise
        session = state.session
        if (
            session.get("stage") != stage
            or session.get("sub") != state.sub
            or session.get("client") != attempt.client.id
        ):
            raise e.NotAuthorizedException(INVALID_SESSION)
        return state, session


def reset_required(client: AppClient) -> e.CognitoError:
    """The refusal of a RESET_REQUIRED user: PasswordResetRequiredException, or with
    PreventUserExistenceErrors what a wrong password gets (the developer guide's "Managing user
    existence error responses", "Imported users")."""
    if client.prevent_user_existence_errors:
        return e.NotAuthorizedException(e.INCORRECT_PASSWORD)
    return e.PasswordResetRequiredException(e.PASSWORD_RESET_REQUIRED)


_READ_REFUSALS: dict[bytes, type[e.CognitoError]] = {
    b"NO_USER": e.UserNotFoundException,
    b"NO_DEVICE": e.ResourceNotFoundException,
    b"NO_SESSION": e.NotAuthorizedException,
    b"USED_SESSION": e.NotAuthorizedException,
    b"STALE_SESSION": e.NotAuthorizedException,
    b"DISABLED": e.NotAuthorizedException,
    b"LOCKED": e.NotAuthorizedException,
}
_READ_MESSAGES: dict[bytes, str] = {
    b"NO_USER": e.USER_NOT_FOUND,
    b"NO_DEVICE": e.DEVICE_NOT_FOUND,
    b"NO_SESSION": SESSION_EXPIRED,
    b"USED_SESSION": SESSION_USED,
    # The password changed since the session began: it has ended, as an expired one has
    # (a captured message, which client libraries answer by starting the sign-in again).
    b"STALE_SESSION": SESSION_EXPIRED,
    b"DISABLED": e.USER_DISABLED,
    b"LOCKED": e.PASSWORD_ATTEMPTS_EXCEEDED,
}
