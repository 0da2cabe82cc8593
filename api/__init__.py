"""The HTTP edge: FastAPI app, /v1 JSON API, auth, problem+json, middleware. Nothing imports `api`."""
