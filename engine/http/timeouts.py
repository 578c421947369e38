"""How long a request may take, and how large its response may be, by default (a module of its
own: the command line's options name these without importing the HTTP client)."""

DEFAULT_TIMEOUT = (10.0, 60.0)  # connect, read: never unbounded
# Connect, headers and body of one attempt together; the read timeout alone restarts with
# every byte, so it cannot stop a server that trickles.
DEFAULT_DEADLINE = 300.0
# A body is held whole and then parsed: its records can take up to ~30 times its size (tiny
# records in JSON); see bench/hostile.py.
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
