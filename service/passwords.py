"""Passwords, never stored: Cognito's SRP verifier for one, and a pool's password policy.

A user's password is kept only as what SRP sign-in needs: a per-user random salt and the
verifier v = g^x mod N (Cognito's SRP-6a: N the RFC 5054 3072-bit prime, g = 2, H = SHA-256),
with x = H(salt || H(poolname || username || ":" || password)) and poolname the part of the
pool id after "_". The user hash holds both as hex (`srp_salt`, `srp_verifier`); sign-in
(service/srp.py) computes the same x from what the client proves.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from .errors import InvalidPasswordException

# RFC 5054, appendix A, the 3072-bit group (the one Cognito and amazon-cognito-identity-js use).
N = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E34"
    "04DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6"
    "F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A6916"
    "3FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C"
    "32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA95"
    "6AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA7157"
    "5D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D876"
    "02733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E"
    "4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
G = 2
SALT_BYTES = 16
PASSWORD_MAX = 256
# The policy a pool has when CreateUserPool names none (the console's and the API's default).
DEFAULT_POLICY: dict[str, Any] = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}
# The special characters Cognito's password policy counts as symbols (developer guide, "User
# pool password requirements"), the space among them.
SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")
NOT_CONFORMING = "Password did not conform with policy: "


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def verifier(pool_id_short: str, username: str, password: str, salt: bytes) -> int:
    """Cognito's SRP verifier v = g^x mod N for `password`, with
    x = H(salt || H(pool_id_short || username || ":" || password)).

    `pool_id_short` is the pool id's part after "_" (`EXAMPLE` of `us-east-1_EXAMPLE`); `salt`
    is the user's random salt, raw bytes."""
    inner = _h(f"{pool_id_short}{username}:{password}".encode())
    x = int.from_bytes(_h(salt + inner), "big")
    return pow(G, x, N)


def stored_fields(pool_id: str, username: str, password: str) -> dict[str, str]:
    """What a user hash keeps of `password`: a fresh salt and its verifier, both hex
    (`srp_salt`, `srp_verifier`)."""
    salt = secrets.token_bytes(SALT_BYTES)
    v = verifier(pool_id.split("_", 1)[1], username, password, salt)
    return {"srp_salt": salt.hex(), "srp_verifier": format(v, "x")}


def check_policy(password: str, policy: Mapping[str, Any] | None) -> None:
    """Raise InvalidPasswordException, with Cognito's message, when `password` breaks the
    pool's PasswordPolicy (None: DEFAULT_POLICY). The first rule broken is reported."""
    p = DEFAULT_POLICY if policy is None else policy
    if len(password) < int(p.get("MinimumLength", DEFAULT_POLICY["MinimumLength"])):
        raise InvalidPasswordException(NOT_CONFORMING + "Password not long enough")
    rules = (
        ("RequireUppercase", str.isupper, "Password must have uppercase characters"),
        ("RequireLowercase", str.islower, "Password must have lowercase characters"),
        ("RequireNumbers", str.isdigit, "Password must have numeric characters"),
        ("RequireSymbols", SYMBOLS.__contains__, "Password must have symbol characters"),
    )
    for member, test, message in rules:
        if p.get(member, False) and not any(test(ch) for ch in password):
            raise InvalidPasswordException(NOT_CONFORMING + message)
