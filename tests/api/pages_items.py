"""Authorization-matrix entries for the items pages: "public" or "session" (a page that
needs a signed-in session; what it shows is decided by the same use cases as the API)."""

PAGES: dict[tuple[str, str], str] = {
    ("GET", "/upload"): "session",
    ("GET", "/evidence/{evidence_id}"): "session",
    ("GET", "/evidence/{evidence_id}/processing"): "session",
    ("GET", "/evidence/{evidence_id}/redact"): "session",
    ("POST", "/evidence/{evidence_id}/edit"): "session",
    ("POST", "/evidence/{evidence_id}/tags"): "session",
    ("POST", "/evidence/{evidence_id}/tags/remove"): "session",
}
