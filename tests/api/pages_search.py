"""Authorization-matrix entries for the search page: "public" or "session" (a page that needs
a signed-in session; what it shows is decided by the same use cases as the API)."""

PAGES: dict[tuple[str, str], str] = {
    ("GET", "/search"): "session",
}
