"""GitHub Actions: a Markdown step summary (appended to $GITHUB_STEP_SUMMARY) and `::error`
workflow commands for failed checks, pointing at the manifest line where drift is to blame.
Everything is redacted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from stackcheck.redact import REDACTOR
from stackcheck.results_json import CheckRecord
from stackcheck.verdict import MEANING, Verdict

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_ICON = {
    Verdict.HEALTHY: "✅",
    Verdict.DEGRADED: "⚠️",
    Verdict.UNHEALTHY: "❌",
    Verdict.INCOMPLETE: "⏸️",
}


def step_summary(
    verdict: Verdict,
    target: str,
    checks: Sequence[CheckRecord],
    sections: Mapping[str, str] | None = None,
) -> str:
    """The Markdown appended to the step summary: verdict, counts, the failing (then
    warning) checks with their reasons, then extra sections (the acceptance tables checks
    attach in Markdown: the golden signals)."""
    counts = {
        s: sum(c.status == s for c in checks) for s in ("passed", "warning", "failed", "skipped")
    }
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no check ran"
    lines = [
        f"## stackcheck: {_ICON[verdict]} {verdict.value}",
        "",
        f"{MEANING[verdict]} (target `{target}`: {tally})",
        "",
    ]
    for status, title in (
        ("failed", "Failed checks"),
        ("warning", "Warnings"),
        ("skipped", "Skipped checks"),
    ):
        chosen = [c for c in checks if c.status == status]
        if not chosen:
            continue
        lines += [f"### {title}", "", "| check | reason | hint |", "|---|---|---|"]
        lines += [f"| `{c.id}` | {_cell(c.message)} | {_cell(c.hint)} |" for c in chosen]
        lines.append("")
    for title, markdown in (sections or {}).items():
        lines += [f"### {title}", "", REDACTOR.text(markdown.strip()), ""]
    return "\n".join(lines)


def append_summary(path: Path, markdown: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(markdown.rstrip("\n") + "\n\n")


def error_commands(checks: Sequence[CheckRecord]) -> list[str]:
    """One `::error` per failed check; one per manifest line to blame where there are."""
    found = []
    for check in checks:
        if check.status != "failed":
            continue
        title = _property(check.id)
        if check.locations:
            found += [
                f"::error file={_property(file)},line={line},title={title}::{_data(message)}"
                for file, line, message in check.locations
            ]
        else:
            found.append(f"::error title={title}::{_data(check.message)}")
    return found


def _cell(text: str) -> str:
    return REDACTOR.text(text).replace("|", "\\|").replace("\n", "<br>")


def _data(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped as the runner expects."""
    return REDACTOR.text(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
