"""The Redis transport: clients and the lean hot-path pipe, Cluster, TLS, the Lua scripts
(scripts/) and their loading, the key layout, typed Redis errors and the embedded Redis."""
