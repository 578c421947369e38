"""How long a request may take by default (a module of its own: the command line's options name
these without importing the HTTP client)."""

DEFAULT_TIMEOUT = (10.0, 60.0)  # connect, read: never unbounded
# Connect, headers and body of one attempt together; the read timeout alone restarts with
# every byte, so it cannot stop a server that trickles.
DEFAULT_DEADLINE = 300.0
