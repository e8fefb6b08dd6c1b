"""Errors a caller can cause. The API maps them to 4xx; the CLI to a message and exit 1."""
from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status = 404


class Invalid(DomainError):
    status = 422


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403


class OverLimit(DomainError):
    """A request that would take a user past a quota limit (Synnefo answers 413 overLimit);
    it names the resource, its limit, the usage (with what is reserved) and what was asked."""

    status = 413
    status_name = "overLimit"

    def __init__(self, message: str, *, resource: str, limit: int, usage: int, requested: int):
        super().__init__(message)
        self.details = {"resource": resource, "limit": limit, "usage": usage, "requested": requested}
