"""App clients, as an SDK-driven set-up makes them: CreateUserPoolClient,
UpdateUserPoolClient, DescribeUserPoolClient, ListUserPoolClients, DeleteUserPoolClient.

An app client is service/model/clients.py's AppClient, in its pool record's `clients` list
(service/store/pools.py), with every CreateUserPoolClient member it does not handle itself kept as
given. Pools themselves are service/ops/admin_pools.py; the request shapes and the conversions
between a body, an AppClient and UserPoolClientType are service/ops/admin_client_body.py.
"""

from __future__ import annotations

from typing import Any

import orjson

from .. import store
from ..model import clients as app_clients
from ..model import errors as e
from ..model.validation import IntMember, StringMember
from .admin import POOL_ID, AdminContext, bool_member, dumps
from .admin_client_body import (
    CLIENT_ID,
    CREATE_CLIENT,
    UPDATE_CLIENT,
    client_from_body,
    client_view,
)
from .admin_pools import _page, _token


class ClientOps(AdminContext):
    """The app-client operations."""

    async def create_user_pool_client(self, body: dict[str, Any]) -> bytes:
        values = self.validate(body, CREATE_CLIENT)
        generate = bool_member(body, "GenerateSecret")
        pool_id = values["UserPoolId"]
        await self.quota("CreateUserPoolClient", pool_id)
        record = await self.pool(pool_id)
        secret = values["ClientSecret"] or (store.new_client_secret() if generate else None)
        now_ms = await store.server_ms(self.r)
        client = client_from_body(values, body, store.new_client_id(), secret, now_ms, now_ms)
        await self._change_clients(pool_id, record, lambda items: [*items, client.to_json()])
        return dumps({"UserPoolClient": client_view(pool_id, client)})

    async def update_user_pool_client(self, body: dict[str, Any]) -> bytes:
        """UpdateUserPoolClient: the client's whole configuration again. As the API Reference
        says, a member left out goes back to its default; the id, secret and creation date
        stay."""
        values = self.validate(body, UPDATE_CLIENT)
        pool_id, client_id = values["UserPoolId"], values["ClientId"]
        await self.quota("UpdateUserPoolClient", pool_id)
        record = await self.pool(pool_id)
        old = _client(record, client_id)
        now_ms = await store.server_ms(self.r)
        name = values["ClientName"] or old.name
        updated = client_from_body(
            {**values, "ClientName": name}, body, client_id, old.secret,
            old.extra.get("created_ms", now_ms), now_ms,
        )  # fmt: skip

        def change(items: list[Any]) -> list[Any]:
            if not any((c if isinstance(c, str) else c.get("id")) == client_id for c in items):
                raise e.ResourceNotFoundException(f"User pool client {client_id} does not exist.")
            return [
                updated.to_json() if (c if isinstance(c, str) else c.get("id")) == client_id else c
                for c in items
            ]

        await self._change_clients(pool_id, record, change)
        return dumps({"UserPoolClient": client_view(pool_id, updated)})

    async def describe_user_pool_client(self, body: dict[str, Any]) -> bytes:
        values = self.validate(body, (POOL_ID, CLIENT_ID))
        pool_id = values["UserPoolId"]
        await self.quota("DescribeUserPoolClient", pool_id)
        record = await self.pool(pool_id)
        client = _client(record, values["ClientId"])
        return dumps({"UserPoolClient": client_view(pool_id, client)})

    async def list_user_pool_clients(self, body: dict[str, Any]) -> bytes:
        values = self.validate(
            body,
            (
                POOL_ID,
                IntMember("MaxResults", min_value=1, max_value=60),
                StringMember("NextToken", min_len=1, max_len=131072, pattern=r"[\S]+"),
            ),
        )
        pool_id = values["UserPoolId"]
        after = _page(values["NextToken"])
        await self.quota("ListUserPoolClients", pool_id)
        record = await self.pool(pool_id)
        ids = list(app_clients.parse(orjson.loads(record.get("clients") or "[]")).values())
        if after and after not in {c.id for c in ids}:
            raise e.InvalidParameterException("Invalid pagination token.")
        start = next((i + 1 for i, c in enumerate(ids) if c.id == after), 0)
        page = ids[start : start + (values["MaxResults"] or 60)]
        answer: dict[str, Any] = {
            "UserPoolClients": [
                {"ClientId": c.id, "UserPoolId": pool_id, "ClientName": c.name or c.id}
                for c in page
            ]
        }
        if page and start + len(page) < len(ids):
            answer["NextToken"] = _token(page[-1].id)
        return dumps(answer)

    async def delete_user_pool_client(self, body: dict[str, Any]) -> bytes:
        values = self.validate(body, (POOL_ID, CLIENT_ID))
        pool_id, client_id = values["UserPoolId"], values["ClientId"]
        await self.quota("DeleteUserPoolClient", pool_id)
        record = await self.pool(pool_id)
        _client(record, client_id)

        def without(items: list[Any]) -> list[Any]:
            return [c for c in items if (c if isinstance(c, str) else c.get("id")) != client_id]

        await self._change_clients(pool_id, record, without)
        return b"{}"

    async def _change_clients(self, pool_id: str, record: dict[str, str], change: Any) -> None:
        """Compare-and-set the pool's clients list, reading again when another write won."""
        for _ in range(20):
            old = record.get("clients") or "[]"
            new = orjson.dumps(change(orjson.loads(old))).decode()
            if await store.swap_clients(self.r, pool_id, old, new):
                return
            record = await self.pool(pool_id)
            if record.get("clients") is None:
                continue
        raise e.InternalErrorException()


def _client(record: dict[str, str], client_id: str) -> app_clients.AppClient:
    found = app_clients.parse(orjson.loads(record.get("clients") or "[]")).get(client_id)
    if found is None:
        raise e.ResourceNotFoundException(f"User pool client {client_id} does not exist.")
    return found
