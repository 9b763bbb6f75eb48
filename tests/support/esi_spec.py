"""ESI's OpenAPI spec (the extract in ``tests/samples``): what a route may answer, as JSON
Schema validators that also refuse object keys the spec does not declare."""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema_rs

from tests.support.esi_samples import SAMPLES_DIR

SPEC_FILE = SAMPLES_DIR / "esi-openapi-2025-12-16-extract.json"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
#: Statuses that never carry a body in HTTP (the spec gives the 204 of the items and bids
#: routes an empty schema all the same).
NO_BODY = frozenset({204, 304})


@functools.cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_FILE.read_text())
    return loaded


def _closed(node: Any) -> Any:
    """The schema with ``additionalProperties: false`` on every object that lists its
    properties: ESI's schemas leave it open, but a simulator key ESI does not send is a
    deviation too."""
    if isinstance(node, list):
        return [_closed(value) for value in node]
    if not isinstance(node, dict):
        return node
    closed = {key: _closed(value) for key, value in node.items()}
    if "properties" in node and "additionalProperties" not in node:
        closed["additionalProperties"] = False
    return closed


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of the answer ``status`` to ``method path`` (``path`` as the spec
    writes it, e.g. ``/universe/types/{type_id}``): the declared status, else the route's
    ``default``; ``None`` for an answer without a body (a 204)."""
    responses = spec()["paths"][path][method.lower()]["responses"]
    declared = responses.get(str(status), responses.get("default"))
    if declared is None:
        raise AssertionError(f"{method} {path}: ESI declares no {status} answer")
    content = declared.get("content")
    if content is None:
        return None
    schema: dict[str, Any] = content["application/json"]["schema"]
    return {
        "$schema": DRAFT_2020_12,
        **_closed(schema),
        "components": {"schemas": _closed(spec()["components"]["schemas"])},
    }


def spec_errors(path: str, method: str, status: int, body: bytes) -> list[str]:
    """Where ``body`` differs from what ESI's spec says ``method path`` answers with
    ``status`` (no difference: ``[]``)."""
    schema = response_schema(path, method, status)
    if schema is None or status in NO_BODY:
        return [] if body == b"" else [f"a {status} of {path} has no body, got {body[:80]!r}"]
    try:
        instance = json.loads(body)
    except ValueError:
        return [f"not JSON: {body[:80]!r}"]
    validator = jsonschema_rs.validator_for(schema)
    return [
        f"{'/'.join(map(str, error.instance_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]
