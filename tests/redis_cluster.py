"""A real Redis Cluster for tests: 3 primaries and 3 replicas, redis-server processes on loopback.

Built by hand with CLUSTER ADDSLOTS / MEET / REPLICATE, so only `redis-server` is needed.
"""

from __future__ import annotations

import random
import socket
import time

import redis

from tests.conftest import RedisServer

SLOTS = 16384


def _ephemeral_low() -> int:
    """Where the kernel's ports for outgoing connections start (32768 by default)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def cluster_port() -> int:
    """A free port whose cluster-bus twin (port + 10000) is free too, both below the kernel's
    ephemeral range when it allows: a port in that range can be taken by any outgoing
    connection between this check and the node's start (seen in CI: a node whose bus port
    went meanwhile never came up)."""
    rng = random.Random()
    highest = _ephemeral_low() - 10000 - 1
    if highest < 21000:
        highest = 45000
    for _ in range(200):
        port = rng.randint(20000, highest)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise AssertionError("no free port pair for a cluster node")


class RedisCluster:
    def __init__(self, primaries: int = 3, replicas_each: int = 1) -> None:
        extra = (
            "--cluster-enabled", "yes",
            "--cluster-node-timeout", "1000",
            "--cluster-replica-validity-factor", "0",
        )  # fmt: skip
        self.primaries = [RedisServer(cluster_port(), *extra) for _ in range(primaries)]
        count = primaries * replicas_each
        self.replicas = [RedisServer(cluster_port(), *extra) for _ in range(count)]
        for server in self.primaries + self.replicas:
            server.extra = (*server.extra, "--cluster-config-file", f"{server.dir}/nodes.conf")

    @property
    def nodes(self) -> list[RedisServer]:
        return self.primaries + self.replicas

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.primaries)
        return f"redis+cluster://{hosts}"

    def client(self, server: RedisServer) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)

    def node_id(self, server: RedisServer) -> str:
        with self.client(server) as c:
            return str(c.execute_command("CLUSTER", "MYID").decode())

    def start(self) -> RedisCluster:
        for server in self.nodes:
            server.start()
        per = SLOTS // len(self.primaries)
        for i, server in enumerate(self.primaries):
            first = i * per
            last = SLOTS - 1 if i == len(self.primaries) - 1 else first + per - 1
            with self.client(server) as c:
                c.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
        with self.client(self.primaries[0]) as c:
            for server in self.nodes[1:]:
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", server.port)
        self._wait(lambda: all(self._known(s) == len(self.nodes) for s in self.nodes))
        for i, replica in enumerate(self.replicas):
            primary = self.primaries[i % len(self.primaries)]
            master_id = self.node_id(primary)
            self._wait(lambda r=replica, m=master_id: self._knows(r, m))
            with self.client(replica) as c:
                c.execute_command("CLUSTER", "REPLICATE", master_id)
        # A failover elects a replica only if the other primaries already know it as the failed
        # one's replica, and it is in sync: wait for both, or a test that kills a primary
        # right away may wait on gossip for longer than it allows.
        self._wait(lambda: all(self._synced(r) for r in self.replicas))
        self._wait(lambda: all(self._replicas_seen(s) == len(self.replicas) for s in self.nodes))
        self.wait_ok()
        return self

    def _synced(self, replica: RedisServer) -> bool:
        with self.client(replica) as c:
            return bool(c.info("replication").get("master_link_status") == "up")

    def _replicas_seen(self, server: RedisServer) -> int:
        with self.client(server) as c:
            lines = c.execute_command("CLUSTER", "NODES").decode().strip().splitlines()
        return sum("slave" in line.split()[2].split(",") for line in lines)

    def _known(self, server: RedisServer) -> int:
        with self.client(server) as c:
            return len(c.execute_command("CLUSTER", "NODES").decode().strip().splitlines())

    def _knows(self, server: RedisServer, node_id: str) -> bool:
        with self.client(server) as c:
            return node_id in c.execute_command("CLUSTER", "NODES").decode()

    def wait_ok(self, servers: list[RedisServer] | None = None, timeout_s: float = 30) -> None:
        def ok() -> bool:
            for server in servers or self.nodes:
                with self.client(server) as c:
                    info = c.execute_command("CLUSTER", "INFO").decode()
                    if "cluster_state:ok" not in info:
                        return False
            return True

        self._wait(ok, timeout_s)

    @staticmethod
    def _wait(check: object, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if check():  # type: ignore[operator]
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise AssertionError("redis cluster did not settle in time")

    def owner(self, slot: int) -> RedisServer:
        """The primary that serves `slot` now."""
        for server in self.nodes:
            if server.proc is None:
                continue
            with self.client(server) as c:
                for start, end, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        port = int(master[1])
                        return next(s for s in self.nodes if s.port == port)
        raise AssertionError(f"no owner for slot {slot}")

    def stop(self) -> None:
        for server in self.nodes:
            server.stop()
