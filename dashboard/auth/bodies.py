"""How many bytes a request body may have, decided before anything reads it.

Why: Flask's app-wide MAX_CONTENT_LENGTH has to allow the largest legitimate
body (a clinician's multi-file upload, 256 MB by default), and the guard
must parse a callback body to learn which callback it is for. So a viewer,
or anyone with a stolen low-privilege session, could make a worker parse a
200 MB JSON document (+0.45 GB RSS) before being told 403. Here the limit
follows who is asking and where, from what is known before the body is
read (the route, the session or token's role): anonymous requests (the
login form) get 64 kB, viewers' callbacks 2 MB, non-upload API calls 64 kB;
only clinicians' and admins' callbacks and `POST /api/v1/predict` get the
full upload limit. Werkzeug enforces it from Content-Length before reading
and while reading a chunked body (413).
"""

from __future__ import annotations

from flask import request

KB = 1024
ANONYMOUS_BYTES = 64 * KB
SMALL_BYTES = 64 * KB
VIEWER_CALLBACK_BYTES = 2 * 1024 * KB
UPLOAD_ROLES = ("clinician", "admin")


def limit_for(endpoint: str | None, role: str | None, upload_limit: int) -> int:
    """The body limit of one request (bytes)."""
    if role is None:
        return ANONYMOUS_BYTES
    if endpoint == "api.predict":
        return upload_limit
    if endpoint == "/_dash-update-component":
        return upload_limit if role in UPLOAD_ROLES else VIEWER_CALLBACK_BYTES
    return SMALL_BYTES


def apply(endpoint: str | None, role: str | None, upload_limit: int) -> None:
    request.max_content_length = min(limit_for(endpoint, role, upload_limit), upload_limit)
