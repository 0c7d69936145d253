"""Authorization-matrix entries for the cases pages: "public" or "session" (a page that
needs a signed-in session; what it shows is decided by the same use cases as the API)."""

PAGES: dict[tuple[str, str], str] = {
    ("GET", "/cases"): "session",
    ("POST", "/cases"): "session",
    ("GET", "/cases/{number}"): "session",
    ("POST", "/cases/{number}/edit"): "session",
    ("POST", "/cases/{number}/status"): "session",
    ("POST", "/cases/{number}/evidence"): "session",
    ("POST", "/cases/{number}/evidence/remove"): "session",
    ("POST", "/cases/{number}/members"): "session",
    ("POST", "/cases/{number}/members/remove"): "session",
    ("POST", "/cases/{number}/restriction"): "session",
    ("GET", "/cases/{number}/play"): "session",
}
