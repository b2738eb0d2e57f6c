"""The schemathesis failures the API may rightly give, and nothing else: every one is named here.

``positive_data_acceptance`` (ST202) says a request the schema allows must not get a 400. An
OpenAPI 3.0 schema cannot state three kinds of rule our endpoints keep, so a request that passes
the schema can still break one of them, and then a 400 is the right answer:

1. what an uploaded file holds: ``format: binary`` says nothing about being a decodable JPEG,
   PNG, WebP, MP4 or WebM (the codes of evaluations.uploads);
2. the world outside the request: a webhook URL's host must resolve, to public addresses only
   (DNS, checked when the endpoint is saved); a session's ``agent`` must be a member of the
   caller's company (and an API token must name one, having no person of its own);
3. rules across parameters: ``started_before`` later than ``started_after``; a custom period with
   a first and a last day, in that order, at most a year apart; a live session only after its
   camera notice was shown (``notice_shown``).

``use_after_free`` (ST301) says an object must be gone after its DELETE. Invitations and API
tokens are kept for the record when they are revoked, which is what their DELETE does
(docs/api.md): a GET still shows them, with ``revoked_at`` set.

:func:`allowed_refusal` drops exactly these failures (operation, status, and the body's code or
its field and message) and keeps any other, on these operations too. Used by
tests/platform/test_schema_conformance.py and by a CLI run (docs/testing.md): no Django here.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

# operation label -> codes of {"detail", "code"} bodies, or {field: message prefixes} of validation errors
_CONTENT = ("image_corrupt", "image_unsupported", "image_empty", "video_unsupported", "video_corrupt")
_UNREACHABLE_URL = ("could not be resolved", "which is not a public internet address")
_PERIOD = {
    "period": (
        "A custom period needs a first and a last day.",
        "The last day comes before the first.",
        "A period is at most",
    )
}
REFUSALS: dict[str, dict[str, Any]] = {
    "POST /api/v1/analyse/": {"codes": _CONTENT},
    "POST /api/v1/sessions/{id}/images/": {"codes": _CONTENT},
    "POST /api/v1/sessions/{id}/video/": {"codes": _CONTENT},
    "POST /api/v1/webhook-endpoints/": {"url": _UNREACHABLE_URL},
    "PATCH /api/v1/webhook-endpoints/{id}/": {"url": _UNREACHABLE_URL},
    "POST /api/v1/sessions/": {
        "codes": ("notice_not_shown",),
        "fields": {
            "agent": (
                "No member with this id in your company.",
                "Name the agent (member id) when using an API token.",
            )
        },
    },
    "GET /api/v1/sessions/": {"fields": {"started_before": ("Must be later than started_after.",)}},
    "GET /api/v1/results/summary/": {"fields": _PERIOD},
    "GET /api/v1/results/agents/": {"fields": _PERIOD},
}
# DELETE revokes and keeps the record: the object is still there afterwards, on purpose.
REVOKED_NOT_DELETED = {"DELETE /api/v1/invitations/{id}/", "DELETE /api/v1/tokens/{id}/"}


def _body(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except (TypeError, ValueError):
        return None


def allowed_refusal(label: str, status: int, body: Any) -> bool:
    """Whether a 400 to a schema-valid request of ``label`` is one of the rules the schema cannot state."""
    rules = REFUSALS.get(label)
    if rules is None or status != 400 or not isinstance(body, dict):
        return False
    code, detail = body.get("code"), body.get("detail")
    if isinstance(code, str) and isinstance(detail, str):
        if code in rules.get("codes", ()):
            return True
        return code == "url" and any(part in detail for part in rules.get("url", ()))
    fields: dict[str, tuple[str, ...]] = rules.get("fields", {})
    if not body or not set(body) <= set(fields):
        return False
    return all(
        isinstance(messages, list) and all(isinstance(m, str) and m.startswith(fields[name]) for m in messages)
        for name, messages in body.items()
    )


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except the refusals above."""
    label = case.operation.label
    if failure.code == "ST202":
        return not allowed_refusal(label, response.status_code, _body(response))
    if failure.code == "ST301":
        return label not in REVOKED_NOT_DELETED and str(failure.operation) not in REVOKED_NOT_DELETED
    return True
