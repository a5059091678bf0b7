"""CORS, so that a browser page (Amplify, the AWS SDK for JavaScript) can call the API from any
origin, as it calls cognito-idp itself.

Every answer carries `Access-Control-Allow-Origin: *` and `Access-Control-Expose-Headers`: without
the second, a page's script cannot read x-amzn-RequestId or x-amzn-ErrorType, and the SDK loses
the request id. `OPTIONS /`, the preflight a browser sends before each new kind of `POST /`
(application/x-amz-json-1.1 and X-Amz-Target make it a non-simple request), gets 200 with the
methods, headers and cache time allowed.

What AWS's JSON-protocol endpoints send (cognito-idp runs on the same frontend; no capture of a
cognito-idp preflight itself was found):
- aws/aws-sdk-js#1080 (a Lambda preflight, 2016): `Access-Control-Allow-Origin: *`,
  `Access-Control-Allow-Methods: POST`, `Access-Control-Expose-Headers:
  x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date`, `Access-Control-Max-Age: 172800`,
  an x-amzn-RequestId, and an empty body (Content-Length: 0, no Content-Type).
- An AppSync preflight captured with curl on 2022-05-07, in the blog post "[CDK]
  AppSyncにCORSレスポンスヘッダーを設定する方法を考える": the same
  `access-control-max-age: 172800` and expose list (plus AppSync's own headers).
- aws/aws-sdk-js-v3#1376 and #1590: SDK v3 adds `amz-sdk-invocation-id` and `amz-sdk-request` to
  every request, and a service whose preflight does not allow them cannot be called from a
  browser at all; AWS added them to its services' allowed headers.
The allowed headers are a fixed list, as AWS's are (an SDK header missing from it fails in a
browser here as it would against AWS), covering what the v3 and v2 SDKs and Amplify send, signed
or not.
"""

from __future__ import annotations

ALLOW_ORIGIN = "*"
ALLOW_METHODS = "POST, OPTIONS"
ALLOW_HEADERS = ",".join(
    (
        "accept",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "authorization",
        "cache-control",
        "content-encoding",
        "content-type",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-target",
        "x-amz-user-agent",
        "x-amzn-trace-id",
    )
)
EXPOSE_HEADERS = "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"
MAX_AGE_S = 172800  # 2 days, as AWS sends (browsers cap it lower: Chromium at 2 h)

# On every answer. As a dict for aiohttp's web.Response, and as rendered header lines for the
# pre-rendered answers of service/http/answer.py, where they cost nothing per request.
HEADERS = {
    "Access-Control-Allow-Origin": ALLOW_ORIGIN,
    "Access-Control-Expose-Headers": EXPOSE_HEADERS,
}
HEADER_LINES = "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items()).encode()

# The preflight's answer adds what a browser asks about in it.
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": ALLOW_ORIGIN,
    "Access-Control-Allow-Methods": ALLOW_METHODS,
    "Access-Control-Allow-Headers": ALLOW_HEADERS,
    "Access-Control-Expose-Headers": EXPOSE_HEADERS,
    "Access-Control-Max-Age": str(MAX_AGE_S),
}
PREFLIGHT_LINES = "".join(
    f"{name}: {value}\r\n" for name, value in PREFLIGHT_HEADERS.items()
).encode()
