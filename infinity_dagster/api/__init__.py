"""The Infinity Reports API client."""

from .client import Credentials, InfinityClient, Page, RetryPolicy
from .errors import (
    InfinityApiError,
    InfinityAuthError,
    InfinityConfigError,
    InfinityDataError,
    InfinityError,
    InfinityUnavailableError,
)
from .query import MAX_PAGE_ROWS, Query, display_expr, filter_expr

__all__ = [
    "MAX_PAGE_ROWS",
    "Credentials",
    "InfinityApiError",
    "InfinityAuthError",
    "InfinityClient",
    "InfinityConfigError",
    "InfinityDataError",
    "InfinityError",
    "InfinityUnavailableError",
    "Page",
    "Query",
    "RetryPolicy",
    "display_expr",
    "filter_expr",
]
