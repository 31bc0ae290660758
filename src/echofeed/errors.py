"""The exception hierarchy: every error echofeed raises on purpose.

    EchofeedError
     +-- ConfigError     the config file is missing, malformed or has a wrong key
     +-- SeedError       one seed file is rejected (names the file and line)
     +-- SourceError     one external source failed
     |    +-- FetchError     HTTP: status, timeout, size, scheme, redirects
     |    +-- ParseError     the body is not a feed we can read
     +-- StoreError      the database cannot be opened, read or written
     +-- PublishError    an output file cannot be written
     +-- LockError       another echofeed process holds the writer lock

A failed seed or source is reported in the refresh report and never stops the
others; config, store and publish errors end the pass.
"""

from __future__ import annotations

from pathlib import Path


class EchofeedError(Exception):
    """Base of every error echofeed raises on purpose."""


class ConfigError(EchofeedError):
    """The configuration is unusable; the message names the file and the key."""

    def __init__(self, path: Path | str, key: str | None, reason: str) -> None:
        where = f"{path}: {key}" if key else f"{path}"
        super().__init__(f"{where}: {reason}")
        self.path, self.key, self.reason = Path(path), key, reason


class SeedError(EchofeedError):
    """A seed file is rejected; it stays where it is and the others publish."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        super().__init__(f"{path}:{line or '-'}: {reason}")
        self.path, self.line, self.reason = Path(path), line, reason


class SourceError(EchofeedError):
    """An external source failed this time; its stored entries stay published."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source, self.reason = source, reason


class FetchError(SourceError):
    """The HTTP fetch of a source failed (status, timeout, size, scheme...)."""

    def __init__(
        self,
        source: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        network: bool = False,
    ) -> None:
        super().__init__(source, reason)
        self.status = status
        self.retry_after = retry_after
        # True when the failure looks like ours (DNS, refused, unreachable)
        # rather than the server's: a pass where every source fails this way
        # is an outage, not a reason to back off each source.
        self.network = network


class ParseError(SourceError):
    """The fetched body is not a feed echofeed can read."""


class StoreError(EchofeedError):
    """The database cannot be opened, read or written."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


class PublishError(EchofeedError):
    """An output file cannot be written; the files already published stay intact."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


class LockError(EchofeedError):
    """Another echofeed process is writing the same database and output."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason
