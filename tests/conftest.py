"""Shared fixtures: ONE Node process and ONE headless Chromium for the whole session."""
import pytest

from webdnn.runners import get_runner

HOSTS = ("node", "chromium")


@pytest.fixture(scope="session")
def runners():
    """{host: runner}, started lazily and closed at the end of the session."""
    started = {}

    class Lazy(dict):
        def __missing__(self, host):
            r = get_runner(host)
            started[host] = r
            self[host] = r
            return r

    yield Lazy()
    for r in started.values():
        r.close()
