"""The client's address for login throttling and the device list: behind a trusted reverse
proxy the proxy's X-Forwarded-For entry, the socket's address otherwise."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`trusted_proxies` entries (addresses or CIDR networks); ValueError names a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_address(environ: dict, trusted_proxy: bool, proxies: tuple[Network, ...]) -> str:
    """The rightmost address of REMOTE_ADDR and X-Forwarded-For that is no trusted proxy.

    Entries left of it were written by the client itself and prove nothing. Without
    `trusted_proxy` the header is ignored: anyone could send it.
    """
    remote = environ.get("REMOTE_ADDR", "") or "?"
    if not trusted_proxy:
        return remote
    chain = [part for part in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    chain.append(remote)
    for entry in reversed(chain):
        address = _address(entry)
        if address is None:
            return entry.strip()[:64]  # a misconfigured proxy: still one key per client
        if not any(address in network for network in proxies):
            return str(address)
    first = _address(chain[0])
    return str(first) if first else remote
