"""Where attachment bytes live: a small interface and the local-disk implementation.

Keys are random and chosen by the store, never derived from what the user called the file,
so a crafted filename can neither escape the store's folder nor overwrite another file.
Shared storage for several web processes is a matter of pointing `root` at it, or of
another implementation of `AttachmentStore`.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from openitsm.kernel.errors import NotFound, _t

CHUNK_SIZE = 64 * 1024
_KEY = re.compile(r"^[0-9a-f]{40}$")


@runtime_checkable
class AttachmentStore(Protocol):
    def save(self, chunks: Iterable[bytes]) -> str:
        """Store every chunk and return the new key; store nothing if `chunks` raises."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """The stored bytes in chunks; raises NotFound at once (not lazily) when absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove the file; a key that is already gone is not an error."""
        ...

    def exists(self, key: str) -> bool: ...


class LocalDiskStore:
    """Files under `root/ab/cd/<key>`, written to `root/tmp` first and renamed into place.

    The rename is atomic, so a reader never sees half a file and a crash leaves at most a
    stray `.part` file in `tmp/`, never a truncated attachment.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path_of(self, key: str) -> Path:
        if not _KEY.match(key):
            raise NotFound(_t("No stored file with key {key}."), params={"key": repr(key)})
        return self.root / key[:2] / key[2:4] / key

    def save(self, chunks: Iterable[bytes]) -> str:
        scratch = self.root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=scratch, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            key = secrets.token_hex(20)
            target = self.path_of(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return key

    def open(self, key: str) -> Iterator[bytes]:
        try:
            handle = self.path_of(key).open("rb")
        except FileNotFoundError:
            raise NotFound(_t("The stored file {key} is missing."), params={"key": key}) from None
        return _read_chunks(handle)

    def delete(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()


def _read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk
