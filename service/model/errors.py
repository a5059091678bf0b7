"""The error hierarchy. Each class is one `__type` on the wire, with its HTTP status."""

from __future__ import annotations


class CognitoError(Exception):
    """An error that the AWS JSON 1.1 wire reports as `{"__type", "message"}`."""

    status: int = 400
    type_name: str = "CognitoError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "type_name" not in cls.__dict__:
            cls.type_name = cls.__name__


class ForbiddenException(CognitoError):
    # The API page says 400, but real WAF blocks are captured answering 403 (REFERENCE.md).
    status = 403


class InternalErrorException(CognitoError):
    status = 500

    def __init__(self, message: str = "Internal server error.") -> None:
        super().__init__(message)


class InvalidParameterException(CognitoError):
    pass


class InvalidUserPoolConfigurationException(CognitoError):
    pass


class NotAuthorizedException(CognitoError):
    pass


class PasswordResetRequiredException(CognitoError):
    pass


class ResourceNotFoundException(CognitoError):
    pass


class TooManyRequestsException(CognitoError):
    def __init__(self, message: str, quota: str = "user") -> None:
        super().__init__(message)
        # Which bucket refused (metrics.THROTTLE_QUOTAS); never on the wire.
        self.quota = quota


class UserNotConfirmedException(CognitoError):
    pass


class UserNotFoundException(CognitoError):
    pass


class DeviceKeyExistsException(CognitoError):
    pass


class UnauthorizedException(CognitoError):
    pass


class UnsupportedTokenTypeException(CognitoError):
    pass


class InvalidPasswordException(CognitoError):
    pass


class RefreshTokenReuseException(CognitoError):
    pass


class UnsupportedOperationException(CognitoError):
    pass


# Protocol-level errors that every AWS JSON service can answer.
class SerializationException(CognitoError):
    pass


class UnknownOperationException(CognitoError):
    pass


class RequestEntityTooLargeException(CognitoError):
    status = 413


class RequestTimeoutException(CognitoError):
    """The client took longer than BODY_TIMEOUT_S to send its body (a slow or stuck client)."""

    status = 408


class UnknownRouteException(UnknownOperationException):
    """A path or method that is not part of the API: AWS JSON services answer 404 with this."""

    status = 404
    type_name = "UnknownOperationException"


# Messages real Cognito sends (see shared/REFERENCE.md); kept together so tests can import them.
INVALID_TOKEN = "Invalid Access Token"
EXPIRED_TOKEN = "Access Token has expired"
REVOKED_TOKEN = "Access Token has been revoked"
MISSING_SCOPE = "Access Token does not have required scopes"
USER_DISABLED = "User is disabled."
USER_NOT_FOUND = "User does not exist."
DEVICE_NOT_FOUND = "Device does not exist."
THROTTLED = "Too many requests"
USER_NOT_CONFIRMED = "User is not confirmed."
PASSWORD_RESET_REQUIRED = "Password reset required for the user"
WAF_BLOCK = "Request not allowed due to WAF block."
# No capture of this text exists; it is inferred from the exception's documentation.
DEVICE_TRACKING_OFF = "Device tracking is not enabled for this user pool."


# Sign-in's answers (service/ops/auth.py).
INCORRECT_PASSWORD = "Incorrect username or password."
PASSWORD_ATTEMPTS_EXCEEDED = "Password attempts exceeded"


def pool_not_found(pool_id: str) -> str:
    return f"User pool {pool_id} does not exist."


# SigV4 refusals (service/credentials/sigv4.py gives each one's source).
class MissingAuthenticationTokenException(CognitoError):
    pass


class UnrecognizedClientException(CognitoError):
    pass


class InvalidSignatureException(CognitoError):
    pass


class IncompleteSignatureException(CognitoError):
    pass


# The admin plane's own (service/ops/admin.py).
class UsernameExistsException(CognitoError):
    pass


class UnsupportedUserStateException(CognitoError):
    pass


class LimitExceededException(CognitoError):
    pass


USERNAME_EXISTS = "User account already exists"
