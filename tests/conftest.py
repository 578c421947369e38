"""Fixtures shared by the whole test suite."""

from collections.abc import Iterator

import pytest
from support.api_server import ApiServer


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    """A running `ApiServer` on 127.0.0.1 with no routes; stopped (threads joined) afterwards."""
    with ApiServer() as server:
        yield server
