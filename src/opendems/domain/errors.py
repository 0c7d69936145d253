"""Domain errors. Each maps to one HTTP status and one CLI message at the edges."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user can be told about."""

    status = 400
    title = "Bad request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(DomainError):
    status = 422
    title = "Invalid input"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Unauthenticated(DomainError):
    status = 401
    title = "Authentication required"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Gone(DomainError):
    status = 410
    title = "Gone"


class TooLarge(DomainError):
    status = 413
    title = "Too large"


class UnsupportedMedia(DomainError):
    status = 415
    title = "Unsupported media type"


class ChecksumMismatch(DomainError):
    status = 460  # tus checksum extension
    title = "Checksum mismatch"


class DigestMismatch(DomainError):
    status = 422
    title = "SHA-256 mismatch"


class StorageFull(DomainError):
    status = 507
    title = "Insufficient storage"


class StorageUnavailable(DomainError):
    """The evidence store cannot be reached or refused the request (a shared object store
    that is down, misconfigured credentials). Nothing was half-stored; trying later may work."""

    status = 503
    title = "Evidence store unavailable"


class TooManyRequests(DomainError):
    status = 429
    title = "Too many requests"
