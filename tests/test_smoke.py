from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Admin, client_error


def test_get_device_happy_path(cognito: Any, admin: Admin) -> None:
    user, device, token = admin.user_with_device("alice")
    answer = cognito.get_device(AccessToken=token, DeviceKey=device)
    assert answer["Device"]["DeviceKey"] == device


def test_unknown_device(cognito: Any, admin: Admin) -> None:
    _, _, token = admin.user_with_device("bob")
    with pytest.raises(ClientError) as info:
        cognito.get_device(AccessToken=token, DeviceKey="us-east-1_0000")
    assert client_error(info) == ("ResourceNotFoundException", "Device does not exist.", 400)
