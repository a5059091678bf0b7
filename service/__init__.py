"""A fast, faithful Amazon Cognito user-pool device API (GetDevice) on aiohttp and Redis.

The floors, top to bottom; each imports only the floors below it (pyproject's
[tool.importlinter], tests/test_layers.py), and the two on one line import neither other:

    cli/                  the commands (`python -m service ...`)
    http/ | bulk/         the edge (server, workers, dispatch) | seeding, devices export/import
    ops/                  one module per operation family
    store/ | sessions/    the admin plane's reads and writes | the token step of the hot path
    credentials/          the pool registry and its keys, tokens, SRP, passwords, SigV4
    redis_io/             the Redis transport, Cluster, Lua scripts (scripts/), keys
    runtime/              settings, metrics and client-address rules: what every layer reads
    model/                Cognito's contract as data: operations, errors, validation, quotas
"""
