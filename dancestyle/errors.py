"""One error hierarchy. Every error a user can cause says what went wrong and what to do next.

The CLI prints `message` (and `hint`) without a traceback; `--debug` shows the chained cause.
"""

from __future__ import annotations

import errno


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


class OutputError(DanceStyleError):
    """Results that could not be written to standard output: a full disk, a failing device (a closed pipe is not
    an error: the reader has all it wanted)."""

    @classmethod
    def writing_stdout(cls, error: OSError) -> OutputError:
        what = (error.strerror or str(error)).lower()
        if error.errno == errno.ENOSPC:
            hint = "Free some space where standard output goes, or redirect it to another disk, then run again."
        else:
            hint = "Check the file or device standard output goes to, or redirect it elsewhere, then run again."
        return cls(f"Results could not be written to standard output: {what}.", hint)


class UnknownModelError(UsageError):
    """A model name that is not in the registry."""


class DownloadError(DanceStyleError):
    """A download that failed: unreachable host, HTTP error, dropped connection, wrong checksum."""


class UnsafeArchiveError(InputError):
    """A zip archive with a member that could write outside the destination or expand without bound."""
