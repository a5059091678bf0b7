"""Amazon Cognito's contract as data: the operation catalogue, errors, validation, quotas, the
password policy, page tokens, app clients and the DeviceType object. Imports nothing of service."""
