"""`--json PATH`: the run as one JSON document for machines (schema: docs/result.schema.json,
`schema_version` 1). Every string in it is redacted, as every output is."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackcheck.redact import REDACTOR
from stackcheck.verdict import MEANING, Verdict

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "result.schema.json"


@dataclass(frozen=True)
class CheckRecord:
    """One check's result as the controller saw it (from every xdist worker too)."""

    id: str
    kind: str
    status: str  # passed | warning | failed | skipped
    message: str
    hint: str = ""
    duration_seconds: float = 0.0
    evidence: tuple[str, ...] = ()  # names
    locations: tuple[tuple[str, int, str], ...] = ()  # (file, line, message)


def document(
    verdict: Verdict,
    target: str,
    stack_file: str,
    started: float,
    finished: float,
    checks: Sequence[CheckRecord],
) -> dict[str, Any]:
    text = REDACTOR.text
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": verdict.value,
        "verdict_reason": MEANING[verdict],
        "target": target,
        "stack_file": stack_file,
        "started": _timestamp(started),
        "finished": _timestamp(finished),
        "checks": [
            {
                "id": c.id,
                "kind": c.kind,
                "status": c.status,
                "message": text(c.message),
                "hint": text(c.hint),
                "duration_seconds": round(max(c.duration_seconds, 0.0), 3),
                "evidence": [text(name) for name in c.evidence],
                "locations": [
                    {"file": f, "line": n, "message": text(m)} for f, n, m in c.locations if n >= 1
                ],
            }
            for c in checks
        ],
    }


def write(path: Path, data: dict[str, Any]) -> None:
    """Whole or not at all: a reader never sees half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    scratch.replace(path)


def _timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
