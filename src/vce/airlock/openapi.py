"""The OpenAPI 3.0 document of the airlock's JSON API (served at ``api/openapi.json``).

Hand-written next to the handlers in :mod:`vce.airlock.app`; the integration tests fuzz the
running service from it with schemathesis, so a drift shows up as a failing test.
"""

from __future__ import annotations

from typing import Any

from vce.airlock import projection
from vce.airlock.states import State


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "unusable input"),
    "401": _json(_ref("Error"), "not authenticated"),
    "403": _json(_ref("Error"), "authenticated but not allowed"),
    "404": _json(_ref("Error"), "no such object"),
    "409": _json(_ref("Error"), "not possible in the object's current state"),
}
RATE_LIMITED = {
    "429": _json(
        _ref("Error"),
        "a per-project limit is reached (requests per day, released rows or bytes per week); "
        "the message names it and when it resets, `Retry-After` gives the seconds to wait",
    )
}
GONE = {"410": _json(_ref("Error"), "the file was deleted after its retention period")}
RID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"},
}


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    status: str = "200",
    more: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {status: ok, **ERRORS, **(more or {})}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "RequestSummary": {
        "type": "object",
        "required": ["id", "state", "project", "name", "kind", "created", "reasons"],
        "properties": {
            "id": {"type": "integer"},
            "state": {
                "type": "string",
                "enum": [*(s.value for s in State), projection.UNDER_REVIEW],
                "description": (
                    "Reviewers and administrators see the request's own state; its researchers "
                    "see the projection of vce.airlock.projection: 'submitted' until a "
                    "reviewer votes (whatever the trusted run found), then 'under_review'."
                ),
            },
            "note": {"type": "string", "description": "what the state means (researchers)"},
            "project": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["query", "file"]},
            "requester": {"type": "string"},
            "revision": {"type": "integer"},
            "created": {"type": "string"},
            "updated": {"type": "string"},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
    },
    "QueryExport": {
        "type": "object",
        "required": ["kind", "project", "name", "purpose", "sql"],
        "properties": {
            "kind": {"type": "string", "enum": ["query"]},
            "project": {"type": "string"},
            "name": {"type": "string", "maxLength": 200},
            "purpose": {"type": "string", "maxLength": 5000},
            "sql": {"type": "string"},
        },
    },
    "FileExport": {
        "type": "object",
        "required": ["kind", "project", "name", "purpose", "filename", "content_base64"],
        "properties": {
            "kind": {"type": "string", "enum": ["file"]},
            "project": {"type": "string"},
            "name": {"type": "string"},
            "purpose": {"type": "string"},
            "filename": {"type": "string"},
            "content_base64": {"type": "string", "format": "byte"},
        },
    },
    "Project": {
        "type": "object",
        "required": ["slug", "title", "pi", "status", "members", "datasets"],
        "properties": {
            "slug": {"type": "string"},
            "title": {"type": "string"},
            "pi": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "expired"]},
            "expires_at": {"type": "string", "nullable": True},
            "u18_approved": {"type": "boolean"},
            "members": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
            "datasets": {"type": "array", "items": {"type": "string"}},
            "created": {"type": "string"},
        },
    },
}


def openapi_document(prefix: str = "/services/airlock/") -> dict[str, Any]:
    """Build the whole document; ``prefix`` becomes the server URL."""
    summary = _ref("RequestSummary")
    detail = {
        "allOf": [
            summary,
            {
                "type": "object",
                "properties": {
                    "purpose": {"type": "string"},
                    "sql": {"type": "string", "nullable": True},
                    "report": {"type": "object", "nullable": True},
                    "preview": {"type": "object", "nullable": True},
                    "votes": {"type": "array"},
                    "comments": {"type": "array"},
                    "events": {"type": "array"},
                    "release": {"type": "object", "nullable": True},
                },
            },
        ]
    }
    project = _ref("Project")
    paths: dict[str, Any] = {
        "/api/requests": {
            "get": _op(
                "Requests the caller may see, newest first",
                _json(
                    {
                        "type": "object",
                        "required": ["requests"],
                        "properties": {
                            "requests": {"type": "array", "items": summary},
                            "total": {"type": "integer"},
                        },
                    },
                    "requests",
                ),
                params=[
                    {"name": "project", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "state",
                        "in": "query",
                        "description": "one state or several, comma-separated",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "mine",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["true", "false"]},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
            ),
            "post": _op(
                "Request an export (a query to re-execute, or a file)",
                _json(summary, "stored; checked in the background"),
                body={"oneOf": [_ref("QueryExport"), _ref("FileExport")]},
                status="201",
                more=RATE_LIMITED,
            ),
        },
        "/api/requests/{id}": {
            "get": _op(
                "One request with its check report, preview, votes and comments",
                _json(detail, "the request"),
                params=[RID],
            ),
        },
        "/api/requests/{id}/resubmit": {
            "post": _op(
                "Revise a denied or returned request",
                _json(summary, "resubmitted"),
                params=[RID],
                more=RATE_LIMITED,
                body={
                    "type": "object",
                    "properties": {
                        "sql": {"type": "string"},
                        "filename": {"type": "string"},
                        "content_base64": {"type": "string"},
                        "purpose": {"type": "string"},
                    },
                },
            ),
        },
        "/api/requests/{id}/withdraw": {
            "post": _op("Withdraw a request", _json(summary, "withdrawn"), params=[RID]),
        },
        "/api/requests/{id}/votes": {
            "post": _op(
                "A reviewer approves, returns or rejects",
                _json(summary, "vote recorded"),
                params=[RID],
                status="201",
                body={
                    "type": "object",
                    "required": ["decision"],
                    "properties": {
                        "decision": {"type": "string", "enum": ["approve", "return", "reject"]},
                        "comment": {"type": "string"},
                    },
                },
            ),
        },
        "/api/requests/{id}/comments": {
            "post": _op(
                "Comment on a request",
                _json({"type": "object"}, "comment added"),
                params=[RID],
                status="201",
                body={
                    "type": "object",
                    "required": ["body"],
                    "properties": {"body": {"type": "string"}, "private": {"type": "boolean"}},
                },
            ),
        },
        "/api/requests/{id}/content": {
            "get": {
                "summary": "The file of a file export (reviewers and administrators)",
                "parameters": [RID],
                "responses": {"200": {"description": "the file"}, **ERRORS, **GONE},
            },
        },
        "/api/requests/{id}/files/{name}": {
            "get": {
                "summary": "Download a file of a release (project members only)",
                "parameters": [
                    RID,
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                    },
                ],
                "responses": {"200": {"description": "the file"}, **ERRORS},
            },
        },
        "/api/projects": {
            "get": _op(
                "Projects the caller is on (all, for reviewers and administrators)",
                _json(
                    {
                        "type": "object",
                        "properties": {"projects": {"type": "array", "items": project}},
                    },
                    "projects",
                ),
            ),
            "post": _op(
                "Create a project (administrators)",
                _json(project, "created"),
                status="201",
                body={
                    "type": "object",
                    "required": ["slug", "title", "pi"],
                    "properties": {
                        "slug": {"type": "string"},
                        "title": {"type": "string"},
                        "pi": {"type": "string"},
                        "datasets": {"type": "array", "items": {"type": "string"}},
                    },
                },
            ),
        },
        "/api/projects/{slug}": {
            "get": _op("One project", _json(project, "the project"), params=[SLUG]),
        },
        "/api/projects/{slug}/members": {
            "post": _op(
                "Add a member (administrators; at most 10)",
                _json(project, "updated"),
                params=[SLUG],
                body={
                    "type": "object",
                    "required": ["username"],
                    "properties": {"username": {"type": "string"}},
                },
            ),
        },
        "/api/projects/{slug}/members/{username}": {
            "delete": _op(
                "Remove a member (administrators)",
                _json(project, "updated"),
                params=[
                    SLUG,
                    {
                        "name": "username",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._@-]*$"},
                    },
                ],
            ),
        },
        "/api/projects/{slug}/grants": {
            "post": _op(
                "Grant a registered dataset (administrators)",
                _json(project, "updated"),
                params=[SLUG],
                body={
                    "type": "object",
                    "required": ["dataset"],
                    "properties": {"dataset": {"type": "string"}},
                },
            ),
        },
        "/api/projects/{slug}/grants/{dataset}": {
            "delete": _op(
                "Revoke a dataset (administrators)",
                _json(project, "updated"),
                params=[
                    SLUG,
                    {
                        "name": "dataset",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._@-]*$"},
                    },
                ],
            ),
        },
        "/api/projects/{slug}/u18": {
            "post": _op(
                "Approve (or withdraw approval of) under-18 data (administrators)",
                _json(project, "updated"),
                params=[SLUG],
                body={"type": "object", "properties": {"approved": {"type": "boolean"}}},
            ),
        },
        "/api/projects/{slug}/expire": {
            "post": _op(
                "Expire a project now (administrators)",
                _json(project, "updated"),
                params=[SLUG],
                body={"type": "object"},
            ),
        },
        "/api/whoami": {
            "get": _op("The caller, their roles and projects", _json({"type": "object"}, "me")),
        },
        "/api/sandbox/refusals": {
            "post": _op(
                "Record a refusal of the caller's sandbox in the audit log (daily limit per user)",
                _json({"type": "object"}, "recorded"),
                status="201",
                body={
                    "type": "object",
                    "required": ["what"],
                    "properties": {
                        "project": {"type": "string"},
                        "what": {"type": "string", "minLength": 1},
                        "path": {"type": "string"},
                        "bytes": {"type": "integer", "minimum": 0},
                    },
                },
                more=RATE_LIMITED,
            ),
        },
        "/api/audit/verify": {
            "get": _op(
                "Verify the audit chain (administrators)",
                _json(
                    {
                        "type": "object",
                        "required": ["ok"],
                        "properties": {"ok": {"type": "boolean"}},
                    },
                    "verification",
                ),
            ),
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "VCE airlock API",
            "version": "1",
            "description": "Export requests, review and release. Authenticate with "
            "`Authorization: token <JupyterHub API token>`.",
        },
        "servers": [{"url": prefix.rstrip("/")}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "hubToken": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"hubToken": []}],
        "paths": paths,
    }
