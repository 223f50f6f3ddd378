"""The HTTP edge (FastAPI): the app, middleware, error mapping, responses and one folder of routes per API."""
