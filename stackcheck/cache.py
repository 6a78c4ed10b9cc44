"""Results of pure checks, kept between runs and keyed by everything they depend on.

The static manifest checks and the stack file's schema validation read nothing but files:
their bytes, the code that judges them and the libraries that code uses. Hashed together,
these make a key; a run whose key is the one stored answers from the cache and skips the
work, and with it importing jsonschema (together ~40 ms of a ~0.35 s verification run).
Any changed input is another key, so the checks run again. The cache is a folder of small
JSON files (`.stackcheck_cache/` next to the stack file); one that cannot be read or
written only means the checks run.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


class Fingerprint:
    """A sha256 over labelled parts (each length-prefixed, so parts cannot run together)."""

    def __init__(self, kind: str) -> None:
        self._hash = hashlib.sha256()
        self.add("kind", kind.encode())
        self.add("python", sys.version.encode())

    def add(self, label: str, data: bytes) -> Fingerprint:
        for part in (label.encode(), data):
            self._hash.update(len(part).to_bytes(8, "big"))
            self._hash.update(part)
        return self

    def add_file(self, path: Path, label: str | None = None) -> Fingerprint:
        """The file's bytes (a missing or unreadable file counts as its own value)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            data = f"<unreadable: {exc.strerror or exc}>".encode()
        return self.add(label or str(path), data)

    def add_library(self, name: str) -> Fingerprint:
        """An installed package, by where its code is and when it was written there (an
        upgrade or reinstall rewrites it)."""
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None and spec.origin else ""
        try:
            stat = os.stat(origin)
            stamp = f"{origin}:{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            stamp = f"{origin}:missing"
        return self.add(f"library {name}", stamp.encode())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class ResultCache:
    """One JSON file per result name, holding the last key and its value."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, name: str, key: str) -> Any:
        """The value stored under `key`, or None (absent, another key, unreadable)."""
        try:
            stored = json.loads((self.folder / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("key") != key:
            return None
        return stored.get("value")

    def put(self, name: str, key: str, value: Any) -> None:
        """Store atomically (a concurrent reader sees the old file or the new one)."""
        temporary = ""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{name}-", dir=self.folder)
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump({"key": key, "value": value}, file)
            os.replace(temporary, self.folder / f"{name}.json")
        except OSError:  # a read-only or full disk: the checks run again next time
            if temporary:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
