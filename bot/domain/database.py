"""What the layers above storage may know of the database: that it can be away for a while."""

from __future__ import annotations


class DatabaseUnavailableError(Exception):
    """The database could not be reached, or stopped answering, for longer than a statement
    waits (DATABASE_RETRY_SECONDS). Nothing was changed, or the change is in doubt; the message
    names the problem, never a password."""
