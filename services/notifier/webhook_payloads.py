"""The body and signature of a webhook call: Hangar Bay's JSON, or Discord's when the URL is a
Discord webhook."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

import orjson

DISCORD_HOSTS = frozenset(
    {"discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com"}
)
SIGNATURE_HEADER = "X-Hangar-Signature"


def is_discord(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.hostname or "") in DISCORD_HOSTS and parts.path.startswith("/api/webhooks/")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hangar_body(alert: dict[str, Any], link: str) -> dict[str, Any]:
    return {
        "event": "alert",
        "alert_id": alert["alert_id"],
        "created_at": alert["created_at"],
        "search": {"search_id": alert["search_id"], "name": alert["search_name"]},
        "contract": alert["contract"],
        "link": link,
    }


def discord_body(alert: dict[str, Any], link: str) -> dict[str, Any]:
    contract = alert["contract"] or {}
    fields = [
        {"name": name.replace("_", " ").title(), "value": str(contract[name]), "inline": True}
        for name in ("type", "price", "reward", "collateral", "volume", "region_id")
        if contract.get(name) not in (None, "", "0.00")
    ]
    title = contract.get("title") or f"Contract {alert['contract_id']}"
    return {
        "username": "Hangar Bay",
        "content": f"New contract for **{alert['search_name'][:100]}**",
        "allowed_mentions": {"parse": []},
        "embeds": [
            {
                "title": title[:256],
                "url": link,
                "description": f"{contract.get('type', 'contract')} {alert['contract_id']}",
                "fields": fields,
                "timestamp": contract.get("date_issued"),
            }
        ],
    }


def webhook_body(url: str, alert: dict[str, Any], base_url: str) -> bytes:
    link = f"{base_url.rstrip('/')}/v1/contracts/{alert['contract_id']}"
    body = discord_body(alert, link) if is_discord(url) else hangar_body(alert, link)
    return orjson.dumps(body)
