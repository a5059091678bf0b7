"""What proves who is calling: the pool registry and its keys, access and refresh tokens, JWKS,
SRP and password verifiers, and the admin plane's SigV4."""
