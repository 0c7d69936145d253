"""Authorization-matrix entries for the admin pages: "public" or "session" (a page that
needs a signed-in session; what it shows is decided by the same use cases as the API)."""

PAGES: dict[tuple[str, str], str] = {
    ("GET", "/admin/users"): "session",
    ("POST", "/admin/users"): "session",
    ("GET", "/admin/users/{username}"): "session",
    ("POST", "/admin/users/{username}"): "session",
    ("POST", "/admin/users/{username}/unlock"): "session",
    ("POST", "/admin/users/{username}/mfa-reset"): "session",
    ("POST", "/admin/users/{username}/password-reset"): "session",
    ("GET", "/admin/roles"): "session",
    ("POST", "/admin/roles"): "session",
    ("GET", "/admin/roles/{name}"): "session",
    ("POST", "/admin/roles/{name}"): "session",
    ("GET", "/admin/categories"): "session",
    ("POST", "/admin/categories"): "session",
    ("GET", "/admin/categories/{category_id}"): "session",
    ("POST", "/admin/categories/{category_id}"): "session",
    ("POST", "/admin/categories/{category_id}/status"): "session",
    ("GET", "/admin/tokens"): "session",
    ("POST", "/admin/tokens"): "session",
    ("POST", "/admin/tokens/{token_id}/revoke"): "session",
    ("GET", "/audit"): "session",
}
