"""Locust: GetDevice and ListDevices, each simulated user with its own seeded user's token.

    python -m service seed --users 1000 --devices 2 --tokens --out seed.jsonl
    SEED_FILE=seed.jsonl locust -f bench/examples/locustfile.py --host http://127.0.0.1:9229

SEED_FILE is `seed`'s output, JSON lines or CSV (`--format csv`). Simulated user N takes seed
line N (wrapping around), so with at least as many seeded users as simulated ones no token is
shared. Each waits 0.1-0.3 s between calls: under the service's per-user quota (USER_RATE_PER_S,
10/s by default, as Cognito's), so every answer should be a 200. Any other answer is a failure.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task

TARGET = "AWSCognitoIdentityProviderService."


def load(path: str) -> list[dict[str, Any]]:
    """The seed file's rows: username, sub, device_keys (a list), access_token, refresh_token."""
    text = Path(path).read_text()
    if path.endswith(".csv"):
        rows: list[dict[str, Any]] = list(csv.DictReader(text.splitlines()))
        for row in rows:
            row["device_keys"] = row["device_keys"].split()
        return rows
    return [json.loads(line) for line in text.splitlines() if line.strip()]


ROWS = load(os.environ.get("SEED_FILE", "seed.jsonl"))
_NEXT = itertools.count()


class DeviceApiUser(FastHttpUser):
    wait_time = between(0.1, 0.3)

    def on_start(self) -> None:
        self.row = ROWS[next(_NEXT) % len(ROWS)]

    def call(self, operation: str, body: dict[str, Any]) -> None:
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": TARGET + operation,
        }
        with self.client.post(
            "/", data=json.dumps(body), headers=headers, name=operation, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {(response.text or '')[:200]}")

    @task(3)
    def get_device(self) -> None:
        if self.row["device_keys"]:
            key = random.choice(self.row["device_keys"])
            self.call("GetDevice", {"AccessToken": self.row["access_token"], "DeviceKey": key})

    @task(1)
    def list_devices(self) -> None:
        self.call("ListDevices", {"AccessToken": self.row["access_token"], "Limit": 10})
