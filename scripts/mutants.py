"""The deliberate bugs `scripts/mutate` puts into the service, one at a time: each a security
check broken the way a careless edit would break it, with the tests that must catch it.

Every later security check adds its mutant here (docs/development.md, "Tests that bite"). An entry's
`original` must occur exactly once in its file: when the code it names changes, the run fails
("no longer applies") until the entry is brought up to date, so the list cannot rot silently.
`guards` are pytest node ids (a test function selects all its parameters); `k` narrows them with
a -k expression. Only the guards run, not the suite: each mutant costs one pytest start (with
the session's Redis and live server) and its tests, 4-9 s on a busy 2-core machine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str  # the bug, in a few words
    file: str  # relative to the repository's root
    original: str  # exact text, found exactly once in `file`
    replacement: str
    guards: tuple[str, ...]  # the tests that must fail with the bug in
    k: str | None = None  # a pytest -k expression narrowing `guards`


RATELIMIT = "tests/test_ratelimit.py"
SIGV4 = "tests/test_sigv4.py"
TOKENS = "tests/test_tokens.py"
REFRESH = "tests/test_refresh.py"
SIGN_OUT = "tests/test_sign_out.py"
AUTH = "tests/test_auth.py"
GUARDS = "tests/test_auth_guards.py"
DEVICES = "tests/test_device_ops.py"
RYW = "tests/test_read_your_writes.py"

# The claim-signature check of RespondToAuthChallenge, shared by the user's and the device's proof.
_CHECK_CLAIM = "        if not srp.check_claim(key, realm, user, block_bytes, stamp, signature):"
_ISSUED_MS = "  return tonumber(sec) * 1000 + tonumber(ms)"

MUTANTS: tuple[Mutant, ...] = (
    # -- the five that survived the first try (issue 21), and the tests written to kill them ---
    Mutant(
        "refill cap is burst + 1",
        "service/redis_io/scripts/_bucket.lua",
        "tokens = math.min(burst, tokens + elapsed_us * rate / 1000000)",
        "tokens = math.min(burst + 1, tokens + elapsed_us * rate / 1000000)",
        (
            f"{RATELIMIT}::test_a_bucket_idle_for_longer_than_it_takes_to_fill_holds_exactly_the_burst",
        ),
    ),
    Mutant(
        "signature compared on 32 hex digits",
        "service/credentials/sigv4.py",
        "if hmac.compare_digest(expected.encode(), given.encode()):",
        "if hmac.compare_digest(expected[:32].encode(), given[:32].encode()):",
        (f"{SIGV4}::test_every_hex_digit_of_the_signature_counts",),
    ),
    Mutant(
        "x-amz-target need not be signed",
        "service/credentials/sigv4.py",
        'if "host" not in names or "x-amz-target" not in names or names != sorted(names):',
        'if "host" not in names or names != sorted(names):',
        (f"{SIGV4}::test_the_target_must_be_among_the_signed_headers",),
    ),
    Mutant(
        "claims cached past the token's exp",
        "service/redis_io/scripts/_session.lua",
        "'PX', math.min(exp * 1000 - now_ms, tonumber(ARGV[10])))",
        "'PX', tonumber(ARGV[10]))",
        (f"{TOKENS}::test_cache_life_is_bounded_by_the_tokens_own_expiry",),
    ),
    Mutant(
        "refresh token not bound to its client",
        "service/ops/auth_refresh.py",
        "    if claims.client_id != client.id:\n",
        "    if False:\n",
        (f"{REFRESH}::test_a_refresh_token_is_bound_to_its_client",),
    ),
    # -- the nine the suite already caught -------------------------------------------------------
    Mutant(
        "a request costs half a token",
        "service/redis_io/scripts/_bucket.lua",
        "    return tokens - 1, true",
        "    return tokens - 0.5, true",
        (f"{RATELIMIT}::test_exactly_the_burst_is_admitted_under_concurrency",),
    ),
    Mutant(
        "sign-out stamped a second early",
        "service/redis_io/scripts/global_sign_out.lua",
        "'signed_out_ms', math.floor(now_us / 1000))",
        "'signed_out_ms', math.floor(now_us / 1000) - 1000)",
        (f"{SIGN_OUT}::test_a_sign_out_revokes_exactly_what_was_issued_before_it",),
        k="GlobalSignOut and not Admin",
    ),
    Mutant(
        "pagination token not bound to its user",
        "service/model/page_tokens.py",
        'f"{scope}:{payload}"',
        'f":{payload}"',
        (f"{DEVICES}::test_forged_altered_or_foreign_pagination_tokens",),
    ),
    Mutant(
        "user's SRP proof unchecked",
        "service/ops/auth_respond.py",
        _CHECK_CLAIM,
        _CHECK_CLAIM.replace("if not", 'if name != "PASSWORD_VERIFIER" and not'),
        (f"{AUTH}::test_pycognito_srp_sign_in",),
    ),
    Mutant(
        "device's SRP proof unchecked",
        "service/ops/auth_respond.py",
        _CHECK_CLAIM,
        _CHECK_CLAIM.replace("if not", 'if name == "PASSWORD_VERIFIER" and not'),
        (f"{AUTH}::test_device_sign_in_with_pycognito",),
    ),
    Mutant(
        "not-remembered devices listed",
        "service/redis_io/scripts/list_devices.lua",
        "if d[1] and d[8] == 'remembered' and d[9] ~= '0' and",
        "if d[1] and d[9] ~= '0' and",
        (f"{DEVICES}::test_update_device_status",),
    ),
    Mutant(
        "lockout one failure late",
        "service/redis_io/scripts/_lockout.lua",
        "  if count >= free then",
        "  if count > free then",
        (f"{AUTH}::test_wrong_password_unknown_user_and_lockout",),
    ),
    Mutant(
        "claims cache's max TTL ignored",
        "service/redis_io/scripts/_session.lua",
        "'PX', math.min(exp * 1000 - now_ms, tonumber(ARGV[10])))",
        "'PX', exp * 1000 - now_ms)",
        (f"{TOKENS}::test_cache_life_is_bounded_by_the_setting",),
    ),
    Mutant(
        "a recreated user takes the old user's tokens",
        "service/redis_io/scripts/_session.lua",
        "  if not u[4] or u[4] ~= sub then",
        "  if not u[4] then",
        (f"{DEVICES}::test_deleted_user",),
    ),
    # -- the checks issue 20 added ---------------------------------------------------------------
    Mutant(
        "a rotated-out refresh token's reuse passes",
        "service/redis_io/scripts/auth_refresh.lua",
        "if step ~= newest and not",
        "if step > newest and not",
        (f"{REFRESH}::test_rotation_returns_a_new_token_and_a_reuse_revokes_the_family",),
    ),
    Mutant(
        "sign-in tokens not stamped after the last sign-out",
        "service/redis_io/scripts/auth_ok.lua",
        "local issued_ms = math.max(now_ms, (tonumber(u[2]) or 0) + 1)",
        "local issued_ms = now_ms",
        (f"{SIGN_OUT}::test_tokens_are_issued_after_the_last_sign_out",),
    ),
    Mutant(
        "refreshed tokens not stamped after the last sign-out",
        "service/redis_io/scripts/auth_refresh.lua",
        "return {'OK', math.max(now_ms, (signed_out_ms or 0) + 1), step}",
        "return {'OK', now_ms, step}",
        (f"{SIGN_OUT}::test_tokens_are_issued_after_the_last_sign_out",),
    ),
    Mutant(
        "a token's milliseconds ignored at sign-out",
        "service/redis_io/scripts/_session.lua",
        _ISSUED_MS,
        "  return tonumber(sec) * 1000",
        (f"{SIGN_OUT}::test_a_sign_out_stamped_in_the_millisecond_a_token_was_issued_revokes_it",),
    ),
    Mutant(
        "a sign-out in a token's own ms spares it",
        "service/redis_io/scripts/_session.lua",
        "if signed_out_ms and issued <= signed_out_ms + tonumber(ARGV[4]) then",
        "if signed_out_ms and issued < signed_out_ms + tonumber(ARGV[4]) then",
        (f"{SIGN_OUT}::test_a_sign_out_stamped_in_the_millisecond_a_token_was_issued_revokes_it",),
    ),
    Mutant(
        "a sign-out in a refresh token's own ms spares it",
        "service/redis_io/scripts/auth_refresh.lua",
        "if signed_out_ms and issued <= signed_out_ms then",
        "if signed_out_ms and issued < signed_out_ms then",
        (f"{SIGN_OUT}::test_a_sign_out_stamped_in_the_millisecond_a_token_was_issued_revokes_it",),
    ),
    Mutant(
        "RevokeToken without EnableTokenRevocation",
        "service/ops/sign_out.py",
        "        if not client.enable_token_revocation:",
        "        if False:",
        (f"{SIGN_OUT}::test_revoke_token_needs_token_revocation",),
    ),
    Mutant(
        "a stale session's new password replaces a newer one",
        "service/redis_io/scripts/auth_ok.lua",
        "if #ARGV > 8 and u[3] ~= ARGV[8] then",
        "if false then",
        (f"{GUARDS}::test_a_new_password_never_replaces_one_set_since_its_session_began",),
    ),
    Mutant(
        "a session outlives a password change",
        "service/redis_io/scripts/auth_read.lua",
        "  if mark[2] ~= (u[4] or '') then",
        "  if false then",
        (
            f"{GUARDS}::test_an_admins_password_ends_a_new_password_session",
            f"{GUARDS}::test_any_password_change_ends_an_srp_session",
        ),
    ),
    Mutant(
        "PreventUserExistenceErrors ignored",
        "service/ops/auth_initiate.py",
        "        hide = client.prevent_user_existence_errors",
        "        hide = False",
        (f"{GUARDS}::test_an_unknown_user_gets_a_wrong_passwords_answer",),
    ),
    Mutant(
        "refresh SECRET_HASH of any USERNAME",
        "service/ops/auth_refresh.py",
        'params.get("SECRET_HASH"), claims.username, claims.sub)',
        'params.get("SECRET_HASH"), params.get("USERNAME") or claims.username)',
        (f"{REFRESH}::test_refresh_secret_hash_names_the_tokens_user",),
    ),
    Mutant(
        "sign-in drains the token-read bucket",
        "service/model/quotas.py",
        '"InitiateAuth": Quota("UserAuthentication", per_user="signin"),',
        '"InitiateAuth": Quota("UserAuthentication", per_user="read"),',
        (f"{GUARDS}::test_wrong_passwords_cannot_throttle_a_users_token_calls",),
    ),
    Mutant(
        "a deleted client's cached claims kept",
        "service/store/pools.py",
        "    if _client_ids(old) - _client_ids(new):",
        "    if False:",
        (f"{RYW}::test_a_deleted_client_signs_no_one_in_and_its_tokens_stop",),
    ),
)
