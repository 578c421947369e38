"""Helpers shared by the test suite; the API server's public names live in `api_server`."""
