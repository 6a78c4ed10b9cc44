"""Cached results of the pure checks (stackcheck/cache.py): a run answers from the cache only
when none of the inputs changed; any change, an unreadable cache or an unwritable folder
means the check runs; a stack file that fails the schema is never remembered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackcheck import stackfile, static
from stackcheck.cache import Fingerprint, ResultCache
from stackcheck.errors import UsageError
from stackcheck.stackfile import load_stack
from tests.test_static import TRAFFIC, copy, edit_docs, find


class Counting:
    """Wraps a function and counts its calls."""

    def __init__(self, function: Any) -> None:
        self.function, self.calls = function, 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.function(*args)


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> Counting:
    counted = Counting(getattr(module, name))
    monkeypatch.setattr(module, name, counted)
    return counted


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the repository's manifests and stack file."""
    return copy(tmp_path / "repo")


@pytest.fixture
def cache(tmp_path: Path) -> ResultCache:
    return ResultCache(tmp_path / "cache")


def test_fingerprint_parts_do_not_run_together() -> None:
    assert (
        Fingerprint("k").add("a", b"bc").hexdigest() != Fingerprint("k").add("ab", b"c").hexdigest()
    )
    assert (
        Fingerprint("k").add("a", b"x").hexdigest() == Fingerprint("k").add("a", b"x").hexdigest()
    )
    assert Fingerprint("k").hexdigest() != Fingerprint("other").hexdigest()


def test_a_value_is_returned_for_its_key_only(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    assert cache.get("r", "k1") is None
    cache.put("r", "k1", [{"a": 1}])
    assert cache.get("r", "k1") == [{"a": 1}]
    assert cache.get("r", "k2") is None
    cache.put("r", "k2", True)
    assert cache.get("r", "k1") is None  # one key kept per result: no growth
    assert cache.get("r", "k2") is True


def test_an_unreadable_cache_is_a_miss(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    for text in ("not json", "[1, 2]", '{"key": "k"}'):
        (tmp_path / "r.json").write_text(text, encoding="utf-8")
        assert cache.get("r", "k") is None


def test_an_unwritable_folder_is_no_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    cache = ResultCache(blocker / "cache")  # a folder under a file cannot exist
    cache.put("r", "k", True)
    assert cache.get("r", "k") is None


def test_static_checks_run_again_only_when_an_input_changes(
    root: Path, cache: ResultCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = counting(monkeypatch, static, "check")
    stack = load_stack(root / "stack.yml")
    assert static.check_cached(root, stack, cache) == []
    assert static.check_cached(root, stack, cache) == []
    assert counted.calls == 1

    edit_docs(
        root,
        TRAFFIC,
        lambda docs: find(docs, "Deployment", "traffic-generator")["spec"]["template"]["spec"][
            "containers"
        ][0].update(image="curl:latest"),
    )
    broken = static.check_cached(root, stack, cache)
    assert [p.rule for p in broken] == ["images"] and counted.calls == 2
    assert static.check_cached(root, stack, cache) == broken  # the problem, from the cache
    assert counted.calls == 2

    (root / "manifests" / "extra.yml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: bookinfo}\n",
        encoding="utf-8",
    )
    static.check_cached(root, stack, cache)
    assert counted.calls == 3  # a new file is a new input


def test_a_cached_static_answer_of_another_shape_is_not_trusted(
    root: Path, cache: ResultCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = load_stack(root / "stack.yml")
    static.check_cached(root, stack, cache)
    stored = json.loads((cache.folder / "static.json").read_text(encoding="utf-8"))
    cache.put("static", stored["key"], [{"unexpected": "shape"}])
    counted = counting(monkeypatch, static, "check")
    assert static.check_cached(root, stack, cache) == []
    assert counted.calls == 1


def test_a_stack_file_is_validated_again_only_when_it_changes(
    root: Path, cache: ResultCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = counting(monkeypatch, stackfile, "_validate")
    first = load_stack(root / "stack.yml", cache)
    assert load_stack(root / "stack.yml", cache) == first
    assert counted.calls == 1

    path = root / "stack.yml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    load_stack(path, cache)
    assert counted.calls == 2


def test_a_stack_file_that_fails_the_schema_fails_every_time(
    root: Path, cache: ResultCache
) -> None:
    path = root / "stack.yml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("version: 1", "version: 1\nunknown_key: 3", 1),
        encoding="utf-8",
    )
    for _ in range(2):
        with pytest.raises(UsageError, match="unknown_key: unknown key"):
            load_stack(path, cache)
