"""Errors the Infinity client raises. Each message is a sentence a user can act on."""

from __future__ import annotations


class InfinityError(Exception):
    """Base class of every error the client raises."""


class InfinityConfigError(InfinityError):
    """Configuration is missing or contradictory; raised before any request is made."""


class InfinityAuthError(InfinityError):
    """The API refused the credentials (401) or the installation (403)."""


class InfinityApiError(InfinityError):
    """The API answered with an error message (a bare JSON string), shown as the server wrote it."""

    def __init__(self, message: str, *, status: int, server_message: str | None = None):
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class InfinityUnavailableError(InfinityError):
    """The API kept failing (throttling, outages, broken connections) after every retry."""


class InfinityDataError(InfinityError):
    """The API sent rows we cannot store as typed, or broke the paging rules."""
