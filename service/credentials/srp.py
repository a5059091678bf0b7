"""Cognito's SRP, the server's side: SRP-6a over RFC 5054's 3072-bit group with Cognito's own
hashing (the only home of this math in the service).

What Cognito's clients compute, and so what this must match (read from amazon-cognito-identity-js's
AuthenticationHelper.js and pycognito's aws_srp.py):

- N is RFC 5054's 3072-bit prime, g = 2, H = SHA-256 over the *bytes* of hex strings, and
  every number is hashed as `pad_hex`: its shortest even-length hex, with "00" in front when
  the first digit is 8 or more (a positive two's-complement encoding).
- k = H(pad(N) || pad(g)).
- A user's secret: x = H(salt || H(poolname || username || ":" || password)), where poolname
  is the pool id's part after "_"; the verifier is v = g^x mod N. A device's secret is the same
  with the DeviceGroupKey as poolname and the DeviceKey as username.
- u = H(pad(A) || pad(B)); the server's S = (A * v^u)^b mod N; the shared key is HKDF-SHA256
  (salt pad(u), info "Caldera Derived Key" || 0x01) of pad(S), first 16 bytes.
- The client's proof: base64(HMAC-SHA256(key, poolname || username || SECRET_BLOCK bytes ||
  TIMESTAMP)), the timestamp written like "Sun Nov 29 19:55:00 UTC 2026" (day not padded).

Salts are made here in their canonical form (pad_hex of a number), because the JavaScript
client reads SALT as a number and pads it again: a salt with a needless leading "00" would
hash differently there than in Python clients.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import secrets

N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E34"
    "04DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6"
    "F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A6916"
    "3FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C"
    "32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA95"
    "6AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA7157"
    "5D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D876"
    "02733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E"
    "4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N = int(N_HEX, 16)
G = 2
INFO = b"Caldera Derived Key\x01"
SALT_BYTES = 16
# The server's secret exponent b: 256 random bits (SRP-6a asks for at least 256).
SECRET_BITS = 256
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def pad_hex(value: int | str) -> str:
    """A number (or hex string) as Cognito's clients hash it: even length, "00" before a
    first digit of 8 or more."""
    digits = format(value, "x") if isinstance(value, int) else value
    if len(digits) % 2:
        return "0" + digits
    if digits[:1] in "89abcdefABCDEF":
        return "00" + digits
    return digits


def hash_hex(hex_string: str) -> str:
    """SHA-256 of the bytes a hex string spells, as 64 hex digits."""
    return hashlib.sha256(bytes.fromhex(hex_string)).hexdigest()


K = int(hash_hex(pad_hex(N) + pad_hex(G)), 16)


def new_salt() -> str:
    """A fresh salt, in canonical form (see the module's docstring)."""
    return pad_hex(secrets.randbits(SALT_BYTES * 8) | 1 << (SALT_BYTES * 8 - 1))


def simulated(secret: bytes, pool_id: str, username: str) -> tuple[str, str]:
    """(salt, verifier) in hex for a user who does not exist, as RFC 5054 section 2.5.1.3 has a
    server answer an unknown SRP user name: a salt that is the same for every request for the
    name (derived from a server secret and the name), and a verifier no password matches. The
    developer guide's "Managing user existence error responses" has Cognito do this in
    USER_SRP_AUTH when PreventUserExistenceErrors is ENABLED ("returns a simulated response in
    the first step as described in RFC 5054", "the same 'salt' ... for the same user name and
    user pool combination"; the proof then fails as a wrong password).

    The salt has a real salt's form (new_salt()); the verifier is a number of the group from
    HMAC-SHA256 in counter mode, not g^x: SRP_B = k*v + g^b hides v either way, and no
    exponentiation is spent here, so answering costs what a real user's answer costs."""
    mac = hmac.new(secret, f"srp-simulated:{pool_id}:{username}".encode(), hashlib.sha256)
    seed = mac.digest()
    salt = pad_hex(int.from_bytes(seed[:SALT_BYTES], "big") | 1 << (SALT_BYTES * 8 - 1))
    stream = b"".join(
        hmac.new(seed, i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(13)
    )
    return salt, pad_hex(int.from_bytes(stream, "big") % N)


def pool_name(pool_id: str) -> str:
    """The "poolname" of a pool id: its part after "_"."""
    return pool_id.split("_", 1)[1]


def secret_x(name: str, user: str, secret: str, salt_hex: str) -> int:
    """x = H(salt || H(name || user || ":" || secret)): a user's (name: the pool name) or a
    device's (name: its DeviceGroupKey, user: its DeviceKey)."""
    inner = hashlib.sha256(f"{name}{user}:{secret}".encode()).hexdigest()
    return int(hash_hex(pad_hex(salt_hex) + inner), 16)


def verifier(name: str, user: str, secret: str, salt_hex: str) -> str:
    """The verifier g^x mod N, as pad_hex."""
    return pad_hex(pow(G, secret_x(name, user, secret, salt_hex), N))


def password_verifier(pool_id: str, username: str, password: str) -> tuple[str, str]:
    """(salt, verifier) in hex for a user's password: what the user hash stores instead of it."""
    salt = new_salt()
    return salt, verifier(pool_name(pool_id), username, password, salt)


def check_password(
    pool_id: str, username: str, password: str, salt_hex: str, verifier_hex: str
) -> bool:
    """Whether `password` is the one the stored verifier was made from (constant-time compare).
    The plain-password flows call this, so one stored secret serves them and SRP."""
    derived = verifier(pool_name(pool_id), username, password, salt_hex)
    return hmac.compare_digest(
        int(derived, 16).to_bytes(384, "big"), _int(verifier_hex).to_bytes(384, "big")
    )


def _int(hex_string: str) -> int:
    value = int(hex_string, 16)
    if not 0 <= value < N:
        raise ValueError("not a number of the group")
    return value


def server_step(verifier_hex: str, a_hex: str) -> tuple[str, bytes]:
    """The server's answer to a client's SRP_A: (SRP_B in hex, the shared 16-byte key).

    Both are computed at once: the key needs only A, B, v and b, so b is never stored (the
    session keeps the key alone). Raises ValueError for an A the protocol forbids (A mod N = 0)
    or a malformed one.
    """
    a_pub = int(a_hex, 16)
    if a_pub % N == 0:
        raise ValueError("SRP_A mod N is 0")
    v = _int(verifier_hex)
    while True:
        b = secrets.randbits(SECRET_BITS)
        b_pub = (K * v + pow(G, b, N)) % N
        u = int(hash_hex(pad_hex(a_pub) + pad_hex(b_pub)), 16)
        if b_pub and u:
            break
    s = pow(a_pub * pow(v, u, N) % N, b, N)
    return format(b_pub, "x"), hkdf(pad_hex(s), pad_hex(u))


def hkdf(ikm_hex: str, salt_hex: str) -> bytes:
    """HKDF-SHA256, one block, info "Caldera Derived Key": the first 16 bytes."""
    prk = hmac.new(bytes.fromhex(salt_hex), bytes.fromhex(ikm_hex), hashlib.sha256).digest()
    return hmac.new(prk, INFO, hashlib.sha256).digest()[:16]


def claim_signature(key: bytes, name: str, user: str, secret_block: bytes, timestamp: str) -> bytes:
    """The HMAC a client's PASSWORD_CLAIM_SIGNATURE carries (raw bytes)."""
    message = name.encode() + user.encode() + secret_block + timestamp.encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def check_claim(
    key: bytes, name: str, user: str, secret_block: bytes, timestamp: str, signature_b64: str
) -> bool:
    """Whether a PASSWORD_CLAIM_SIGNATURE proves the client holds the secret (constant time)."""
    try:
        given = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(given, claim_signature(key, name, user, secret_block, timestamp))


def timestamp(now: datetime.datetime) -> str:
    """A TIMESTAMP as Cognito's clients write it: "Sun Nov 29 19:55:00 UTC 2026"."""
    now = now.astimezone(datetime.UTC)
    return (
        f"{_WEEKDAYS[now.weekday()]} {_MONTHS[now.month - 1]} {now.day} "
        f"{now:%H:%M:%S} UTC {now.year}"
    )


def parse_timestamp(text: str) -> datetime.datetime | None:
    """A client's TIMESTAMP as a UTC time, or None when it is not in Cognito's format."""
    try:
        parsed = datetime.datetime.strptime(text, "%a %b %d %H:%M:%S UTC %Y")
    except ValueError:
        return None
    return parsed.replace(tzinfo=datetime.UTC)
