"""Webhook targets that cannot be turned against the network they are called from (SSRF).

A target must be ``https`` and every address its name resolves to must be public: no loopback,
private, link-local, shared, multicast, reserved or unspecified address, and never a cloud
metadata address. The call then goes to the address that was checked (the name is only sent
as TLS SNI and ``Host``), so a name that resolves differently a moment later (DNS rebinding)
changes nothing. ``allow_private`` admits loopback and private networks for on-premise use;
metadata addresses stay refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
MAX_URL_LENGTH = 2000


class UnsafeWebhookTargetError(ValueError):
    """The URL is not an acceptable webhook target; the message says why."""


@dataclass(frozen=True)
class ResolvedTarget:
    """A checked target: connect to ``url`` (an address), present ``host`` as SNI and Host."""

    url: str
    host: str
    host_header: str
    address: IpAddress


def parse_target(url: str) -> SplitResult:
    """The URL's parts, if its form is acceptable (before any name is resolved)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookTargetError(f"longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise UnsafeWebhookTargetError("only https URLs are accepted")
    if not parts.hostname:
        raise UnsafeWebhookTargetError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookTargetError("credentials in the URL are not accepted")
    try:
        _ = parts.port
    except ValueError as error:
        raise UnsafeWebhookTargetError("invalid port") from error
    return parts


def address_refusal(address: IpAddress, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be called, or ``None`` when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "not a unicast address"
    internal = (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address in SHARED_ADDRESS_SPACE
    )
    if internal and not allow_private:
        return "a loopback, private or link-local address"
    if not internal and not address.is_global:
        return "not a public address"
    return None


async def resolve_target(url: str, *, allow_private: bool) -> ResolvedTarget:
    """Resolve the URL's host and check every address it has; raise if any is refused."""
    parts = parse_target(url)
    host = parts.hostname
    assert host is not None
    port = parts.port or 443
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as error:
            raise UnsafeWebhookTargetError(f"the host name does not resolve: {error}") from error
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise UnsafeWebhookTargetError("the host name has no address")
    for address in addresses:
        refusal = address_refusal(address, allow_private=allow_private)
        if refusal is not None:
            raise UnsafeWebhookTargetError(f"{host} resolves to {address}: {refusal}")
    chosen = addresses[0]
    netloc_host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    pinned = urlunsplit(parts._replace(netloc=f"{netloc_host}:{port}"))
    host_header = host if parts.port in (None, 443) else f"{host}:{port}"
    return ResolvedTarget(url=pinned, host=host, host_header=host_header, address=chosen)
