"""One error hierarchy. Every error a user can cause says what went wrong and what to do next.

The CLI prints `message` (and `hint`) without a traceback; `--debug` shows the chained cause.
"""

from __future__ import annotations


class DanceStyleError(Exception):
    """Base class: a problem the user can do something about."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()

    def __reduce__(self):  # pickled whole (hint included): results travel between torchrun's processes
        return type(self), (self.message, self.hint)


class UsageError(DanceStyleError):
    """A bad option value or combination (exit code 2)."""


class InputError(DanceStyleError):
    """An input path that cannot be used: missing, unreadable, no videos in it."""


class MediaError(InputError):
    """A file that exists but is not a decodable video: empty, not media, truncated, no video stream."""


class WeightsError(DanceStyleError):
    """Weights that cannot be had: offline and not cached, repo missing, bad files."""


class ChecksumError(WeightsError):
    """A downloaded or local weights file whose sha256 is not the pinned one."""


class UnknownModelError(UsageError):
    """A model name that is not in the registry."""


class DownloadError(DanceStyleError):
    """A download that failed: unreachable host, HTTP error, dropped connection, wrong checksum."""


class UnsafeArchiveError(InputError):
    """A zip archive with a member that could write outside the destination or expand without bound."""
