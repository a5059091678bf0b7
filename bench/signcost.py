"""`python -m bench.signcost`: what one sign-in's parts cost on one core, timed in isolation.

The service's own functions, each run for about `--seconds`: `srp.server_step` (USER_SRP_AUTH's
server math: B = k*v + g^b and S = (A * v^u)^b, 3072-bit), `srp.check_password`
(USER_PASSWORD_AUTH's: the verifier g^x from the password), one raw 3072-bit pow with a 256-bit
exponent, and one RS256 signature (`tokens.issue`: a sign-in signs two, access and ID).
Prints milliseconds per call as JSON.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Callable

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from service.credentials import srp, tokens
from service.credentials.pool import Pool


def _ms(fn: Callable[[], object], seconds: float) -> float:
    fn()
    n, started = 0, time.process_time()
    while (spent := time.process_time() - started) < seconds:
        fn()
        n += 1
    return round(spent / n * 1000, 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.signcost", description=__doc__)
    p.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per measurement")
    s = p.parse_args(argv).seconds
    pool_id, user, password = "us-east-1_Cost", "someone", "Bench-passw0rd!"
    salt, verifier = srp.password_verifier(pool_id, user, password)
    a_pub = srp.pad_hex(pow(srp.G, secrets.randbits(1024), srp.N))
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    key = tokens.private_key(pem)
    pool = Pool(id=pool_id, issuer="https://cost", region="us-east-1", clients=frozenset({"c"}))
    x = secrets.randbits(256)
    out = {
        "srp_server_step_ms": _ms(lambda: srp.server_step(verifier, a_pub), s),
        "check_password_ms": _ms(
            lambda: srp.check_password(pool_id, user, password, salt, verifier), s
        ),
        "pow_3072_256bit_ms": _ms(lambda: pow(srp.G + 1, x, srp.N), s),
        "rs256_sign_ms": _ms(
            lambda: tokens.issue(
                pool=pool,
                signing_kid="k",
                signing_key=key,
                sub="s",
                username=user,
                client_id="c",
                ttl_s=3600,
            ),
            s,
        ),
    }
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
