"""The client address behind a trusted proxy: the rightmost X-Forwarded-For entry that is
not a trusted proxy; forged entries to its left and the header without trust count for nothing."""

from __future__ import annotations

import pytest

from davserver.client_address import client_address, parse_networks
from davserver.config import ConfigError, ServerConfig, _apply, validate

PROXIES = parse_networks(["127.0.0.1", "::1", "10.0.0.0/8"])


def address(forwarded: str | None, remote: str = "127.0.0.1", trusted: bool = True) -> str:
    environ = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(environ, trusted, PROXIES)


@pytest.mark.parametrize(
    ("forwarded", "remote", "trusted", "expected"),
    [
        ("203.0.113.9", "127.0.0.1", True, "203.0.113.9"),
        ("1.2.3.4, 203.0.113.9", "127.0.0.1", True, "203.0.113.9"),  # the client forged 1.2.3.4
        ("203.0.113.9, 10.1.2.3", "127.0.0.1", True, "203.0.113.9"),  # two proxies in a row
        ("203.0.113.9", "198.51.100.1", True, "198.51.100.1"),  # not from a proxy: the socket
        ("203.0.113.9", "127.0.0.1", False, "127.0.0.1"),  # header ignored without trust
        (None, "127.0.0.1", True, "127.0.0.1"),
        ("10.0.0.1, 127.0.0.1", "127.0.0.1", True, "10.0.0.1"),  # only proxies: the first
        ("[2001:db8::1]:4711", "::1", True, "2001:db8::1"),
        ("203.0.113.9:4711", "127.0.0.1", True, "203.0.113.9"),
        ("::ffff:203.0.113.9", "127.0.0.1", True, "203.0.113.9"),  # one address, one key
        ("<script>" * 50, "127.0.0.1", True, "<script>" * 8),  # garbage: bounded
        (" , ,203.0.113.9 ,", "127.0.0.1", True, "203.0.113.9"),
    ],
)
def test_client_address(forwarded, remote, trusted, expected):
    assert address(forwarded, remote, trusted) == expected


def test_trusted_proxies_are_validated_naming_the_key():
    config = ServerConfig()
    _apply(config, {"trusted_proxies": ["127.0.0.1", "192.168.0.0/16"]})
    assert validate(config).trusted_proxies == ["127.0.0.1", "192.168.0.0/16"]
    for bad in (
        {"trusted_proxies": ["proxy.local"]},
        {"trusted_proxies": "127.0.0.1"},
        {"trusted_proxies": [1]},
    ):
        with pytest.raises(ConfigError, match="trusted_proxies"):
            validate(_apply_to_new(bad))


def _apply_to_new(data: dict) -> ServerConfig:
    config = ServerConfig()
    _apply(config, data)
    return config
