"""HTTP side of the engine: requests, authentication, error handling and backoff."""
