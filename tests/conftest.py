"""Fixtures shared by the whole test suite."""

import ipaddress
import socket
from collections.abc import Iterator

import pytest
from support.api_server import ApiServer

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class NonLoopbackLookup(RuntimeError):
    """A test looked up a host that is not this machine. Tests talk to loopback only; this is
    no ``OSError``, so no client retries it: the test fails at once, naming the host."""


def _is_loopback(host: object) -> bool:
    if host is None or host in ("", b""):
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """Refuse name lookups of other hosts in this process (a test server that forgets to
    redirect a connector's host would otherwise reach, or retry for minutes, the real API)."""
    lookup = socket.getaddrinfo

    def loopback_lookup(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not _is_loopback(host):
            raise NonLoopbackLookup(f"a test tried to reach {host!r}; tests reach loopback only")
        return lookup(host, *args, **kwargs)

    socket.getaddrinfo = loopback_lookup
    yield
    socket.getaddrinfo = lookup


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    """A running `ApiServer` on 127.0.0.1 with no routes; stopped (threads joined) afterwards."""
    with ApiServer() as server:
        yield server
