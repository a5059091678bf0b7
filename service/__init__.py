"""A fast, faithful Amazon Cognito user-pool device API (GetDevice) on aiohttp and Redis."""
