"""Cognito's request-rate quotas as data: each operation's category, and which are per user.

Source: the developer guide's "Amazon Cognito user pools API operation categories and request
rate quotas" (https://docs.aws.amazon.com/cognito/latest/developerguide/quotas.html). Real
Cognito applies a category's quota to the whole account and region; here it applies per pool
(one pool is usually one load test), when POOL_RATE_LIMIT is on. The per-user quotas ("Read
user profile" and "Write user profile", 10 operations per user per second, with GetUser,
GetDevice, InitiateAuth and RespondToAuthChallenge as the read examples and
UpdateUserAttributes and SetUserSettings as the write ones) always apply, at USER_RATE_PER_S.

Sign-in draws from a per-user bucket of its own, at the same rate ("signin"). The guide names
signing in among the per-user "read" operations (the archived "Quotas" page: "up to ten requests
per second that are "read" operations including signing in or getting profile or device
information"), but it states a rate, not that sign-ins and token reads share one counter. One
counter would let anyone who knows a user's name empty that user's read bucket with wrong
passwords (InitiateAuth needs no credential), and so throttle the user's own GetUser and
GetDevice: 45 such calls did, before the split. Apart, an unauthenticated caller can throttle
only the victim's sign-ins, which the lockout (five failures) ends sooner anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

# Default requests per second of each category, as the page lists them.
CATEGORY_RPS: dict[str, float] = {
    "UserAuthentication": 120,
    "UserCreation": 50,
    "UserFederation": 25,
    "UserAccountRecovery": 30,
    "UserRead": 120,
    "UserUpdate": 25,
    "UserToken": 120,
    "UserResourceRead": 50,
    "UserResourceUpdate": 25,
    "UserList": 30,
    "UserPoolRead": 15,
    "UserPoolUpdate": 15,
    "UserPoolResourceRead": 20,
    "UserPoolResourceUpdate": 15,
    "UserPoolClientRead": 15,
    "UserPoolClientUpdate": 15,
    "ClientAuthentication": 150,
}


@dataclass(frozen=True)
class Quota:
    """Where one operation's calls count."""

    category: str
    # The user's own bucket this operation draws from: "read", "write", "signin", or None when
    # Cognito documents no per-user quota for it. Each is a bucket of its own.
    per_user: str | None = None


OPERATIONS: dict[str, Quota] = {
    # Reads of a user's own devices are "read user profile" (GetDevice is the page's example).
    "GetDevice": Quota("UserResourceRead", per_user="read"),
    "ListDevices": Quota("UserResourceRead", per_user="read"),
    # Changes to a user's own devices are "write user profile" calls.
    "UpdateDeviceStatus": Quota("UserResourceUpdate", per_user="write"),
    "ForgetDevice": Quota("UserResourceUpdate", per_user="write"),
    "ConfirmDevice": Quota("UserResourceUpdate", per_user="write"),
    "GlobalSignOut": Quota("UserUpdate", per_user="write"),
    # RevokeToken takes a refresh token, not a session: only its category applies.
    "RevokeToken": Quota("UserToken"),
    # Sign-in (service/ops/auth.py). The Quotas page names InitiateAuth and
    # RespondToAuthChallenge among the per-user "read" examples; they draw from the user's
    # sign-in bucket, apart from token reads (see the module's docstring). RespondToAuthChallenge's
    # first three responses of a sign-in draw from a pool-wide bucket three times
    # UserAuthentication's, later ones from UserAuthentication, NEW_PASSWORD_REQUIRED from
    # UserAccountRecovery (ops/auth.py).
    "InitiateAuth": Quota("UserAuthentication", per_user="signin"),
    "RespondToAuthChallenge": Quota("UserAuthentication", per_user="signin"),
    "AdminInitiateAuth": Quota("UserAuthentication", per_user="signin"),
    "AdminRespondToAuthChallenge": Quota("UserAuthentication", per_user="signin"),
    # A refresh is a sign-in of the UserAuthentication category (as REFRESH_TOKEN_AUTH is).
    "GetTokensFromRefreshToken": Quota("UserAuthentication"),
    # The admin plane (SigV4-signed, IAM credentials): categories only, no per-user bucket.
    "AdminGetDevice": Quota("UserResourceRead"),
    "AdminListDevices": Quota("UserResourceRead"),
    "AdminForgetDevice": Quota("UserResourceUpdate"),
    "AdminUpdateDeviceStatus": Quota("UserResourceUpdate"),
    "AdminUserGlobalSignOut": Quota("UserUpdate"),
    "AdminDeleteUser": Quota("UserUpdate"),
    "AdminDisableUser": Quota("UserUpdate"),
    "AdminEnableUser": Quota("UserUpdate"),
    "AdminCreateUser": Quota("UserCreation"),
    "AdminGetUser": Quota("UserRead"),
    "AdminSetUserPassword": Quota("UserAccountRecovery"),
    "CreateUserPool": Quota("UserPoolUpdate"),
    "DeleteUserPool": Quota("UserPoolUpdate"),
    "DescribeUserPool": Quota("UserPoolRead"),
    "ListUserPools": Quota("UserPoolRead"),
    "CreateUserPoolClient": Quota("UserPoolClientUpdate"),
    "DeleteUserPoolClient": Quota("UserPoolClientUpdate"),
    "UpdateUserPoolClient": Quota("UserPoolClientUpdate"),
    "DescribeUserPoolClient": Quota("UserPoolClientRead"),
    "ListUserPoolClients": Quota("UserPoolClientRead"),
}

# The user-hash fields of each per-user bucket (read by _session.lua; "signin" by
# auth_read.lua).
USER_BUCKET_FIELDS = {"read": "bucket", "write": "wbucket", "signin": "sbucket"}
