"""OpenedStack: a stack made ready to verify (by targets.py or kind.py): the settings to
verify it with (kubeconfig, URLs filled in) and how to tear it down. Apart from both, so that
targets.py may open kind.py lazily without a cycle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stackcheck.settings import Settings


@dataclass
class OpenedStack:
    settings: Settings
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()
