"""Authorization-matrix entries for the library pages: "public" or "session" (a page that
needs a signed-in session; what it shows is decided by the same use cases as the API)."""

PAGES: dict[tuple[str, str], str] = {
    ("GET", "/evidence"): "session",
    ("POST", "/evidence/bulk"): "session",
    ("GET", "/home/queue"): "session",
}
