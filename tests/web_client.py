"""What the HTTP API tests share: the test ``authenticate`` and the problem-details check.

Import as ``from web_client import ...`` (pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

from typing import Any

ACME = {"X-Account": "acme"}
OTHER = {"X-Account": "other"}
JSON = {"Content-Type": "application/json"}


def by_header(request: Any) -> str | None:
    """The tests' authenticate: the account named in ``X-Account`` (a host reads a session)."""
    value = request.headers.get("x-account")
    return str(value) if value else None


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """R-WEB-2: an RFC 9457 problem with the error's code and status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:subkit:error:{code}"
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert isinstance(body["facts"], dict)
    return body
