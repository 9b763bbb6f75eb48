"""Webhook targets refused before any call (SSRF), and the bodies and signatures sent."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from common.webhook_guard import UnsafeWebhookTargetError, parse_target, resolve_target
from services.notifier.webhook_payloads import is_discord, signature, webhook_body

REFUSED = [
    "https://127.0.0.1/hook",
    "https://10.0.0.1/hook",
    "https://192.168.1.20:8443/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://100.64.1.1/hook",
    "https://0.0.0.0/hook",
    "https://localhost/hook",  # a name that resolves to a loopback address
]


@pytest.mark.parametrize("url", REFUSED)
async def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookTargetError):
        await resolve_target(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "ftp://hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "https:///nohost",
        "https://hooks.example.com:99999/x",
    ],
)
def test_only_plain_https_urls_are_accepted(url: str) -> None:
    with pytest.raises(UnsafeWebhookTargetError):
        parse_target(url)


async def test_private_targets_may_be_allowed_but_never_metadata() -> None:
    target = await resolve_target("https://localhost:8443/hook?x=1", allow_private=True)
    assert str(target.address) in {"127.0.0.1", "::1"}
    assert target.host == "localhost"
    assert target.host_header == "localhost:8443"
    assert target.url.endswith(":8443/hook?x=1")
    assert "localhost" not in target.url
    with pytest.raises(UnsafeWebhookTargetError, match="metadata"):
        await resolve_target("https://169.254.169.254/", allow_private=True)


async def test_a_public_address_is_called_as_resolved() -> None:
    target = await resolve_target("https://8.8.8.8/hook", allow_private=False)
    assert target.url == "https://8.8.8.8:443/hook"


ALERT = {
    "alert_id": 7,
    "search_id": 3,
    "search_name": "cheap Ravens",
    "contract_id": 190319637,
    "created_at": "2026-12-03T06:00:00Z",
    "contract": {"contract_id": 190319637, "type": "item_exchange", "price": "1500000.00"},
}


def test_hangar_body_has_the_summary_and_a_link() -> None:
    body = orjson.loads(webhook_body("https://hooks.example.com/x", ALERT, "https://hb.example/"))
    assert body["contract"]["price"] == "1500000.00"
    assert body["link"] == "https://hb.example/v1/contracts/190319637"
    assert body["search"] == {"search_id": 3, "name": "cheap Ravens"}


def test_discord_webhooks_get_discords_format() -> None:
    url = "https://discord.com/api/webhooks/123/abc"
    assert is_discord(url)
    assert not is_discord("https://discord.com.evil.example/api/webhooks/1/x")
    body = orjson.loads(webhook_body(url, ALERT, "https://hb.example"))
    assert set(body) >= {"content", "embeds"}
    assert body["allowed_mentions"] == {"parse": []}
    assert body["embeds"][0]["url"] == "https://hb.example/v1/contracts/190319637"
    assert {"name": "Price", "value": "1500000.00", "inline": True} in body["embeds"][0]["fields"]


def test_signature_is_hmac_sha256_of_the_body() -> None:
    expected = hmac.new(b"s3cret", b"{}", hashlib.sha256).hexdigest()
    assert signature("s3cret", b"{}") == f"sha256={expected}"
