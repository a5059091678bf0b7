"""The HTTP edge: the server process and its workers, the HTTP framing, the API's dispatch, CORS,
the access log and tracing. The layer above everything the service does, below the CLI."""
