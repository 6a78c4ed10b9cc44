"""endpoint[...]: http_problems() for the stack file's productpage and Grafana expectations,
and the endpoint check read by the StackReader over a fake HTTP session (no network)."""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass, field

import pytest

from stackcheck.checks.http import endpoint_answers, http_evidence, http_problems, served_by
from stackcheck.checks.model import HttpAnswer, Result, Status
from stackcheck.reading import StackReader
from stackcheck.runner import Runner
from stackcheck.settings import Settings
from stackcheck.stackfile import HttpExpectation, LengthRange
from tests.kubefakes import check, real_stack

STACK = real_stack()
PRODUCTPAGE = "http://192.0.2.10:30080/productpage"
GRAFANA = "http://192.0.2.10:30300"


def expectation(endpoint: str) -> HttpExpectation:
    return next(e.expect for e in STACK.endpoints if e.name == endpoint)


def productpage_body(*, reviews: str = "<h4>Book Reviews</h4>", size: int = 9429) -> bytes:
    """A productpage shaped like Bookinfo's: title, details and reviews, padded to `size`."""
    page = (
        "<!DOCTYPE html><html><head><title>Simple Bookstore App</title></head><body>"
        "<h3>The Comedy of Errors</h3><h4>Book Details</h4><dl><dt>Type:</dt>paperback"
        f"</dl>{reviews}<blockquote>An extremely entertaining play by Shakespeare."
        "</blockquote>"
    )
    tail = "</body></html>\n"
    return (page + " " * (size - len(page) - len(tail)) + tail).encode()


def answer(
    status: int = 200, body: bytes = b"", reason: str = "OK", url: str = PRODUCTPAGE, **headers: str
) -> HttpAnswer:
    return HttpAnswer(url, status, reason, headers, body)


# --- productpage ---------------------------------------------------------------------------
def test_healthy_productpage_passes() -> None:
    assert http_problems(expectation("productpage"), answer(body=productpage_body())) == []


def test_productpage_with_reviews_down_fails_despite_200() -> None:
    body = productpage_body(
        reviews="<p>Error fetching product reviews</p><p>Sorry, product "
        "reviews are currently unavailable for this book.</p>"
    )
    assert http_problems(expectation("productpage"), answer(body=body)) == [
        "body lacks 'Book Reviews'",
        "body contains 'Error fetching product reviews'",
    ]


def test_productpage_too_long_names_length_and_range() -> None:
    problems = http_problems(expectation("productpage"), answer(body=productpage_body(size=16000)))
    assert problems == ["body length is 16000 bytes, expected between 9000 and 15500"]


def test_exact_length_expectation() -> None:
    expect = HttpExpectation(200, length=LengthRange(exact=3769))
    assert http_problems(expect, answer(body=productpage_body(size=3769))) == []
    assert http_problems(expect, answer(body=productpage_body(size=3770))) == [
        "body length is 3770 bytes, expected exactly 3769"
    ]


def test_wrong_status_is_the_only_problem_reported() -> None:
    problems = http_problems(
        expectation("productpage"),
        answer(500, b"<h1>Internal Server Error</h1>", "INTERNAL SERVER ERROR"),
    )
    assert problems == ["status 500 INTERNAL SERVER ERROR, expected 200"]


def test_unexpected_redirect_shows_where_it_goes() -> None:
    problems = http_problems(
        expectation("productpage"),
        answer(301, reason="Moved Permanently", Location="/productpage/"),
    )
    assert problems == ["status 301 Moved Permanently, expected 200 (Location: '/productpage/')"]


# --- Grafana -------------------------------------------------------------------------------
@pytest.mark.parametrize("location", ["/login", "/login?redirectTo=%2F"])
def test_grafana_redirect_to_login_passes(location: str) -> None:
    redirect = answer(
        302, b'<a href="/login">Found</a>.\n\n', "Found", url=GRAFANA + "/", Location=location
    )
    assert http_problems(expectation("grafana-login"), redirect) == []


def test_location_header_name_is_case_insensitive() -> None:
    redirect = answer(302, reason="Found", url=GRAFANA + "/", location="/login")
    assert http_problems(expectation("grafana-login"), redirect) == []


def test_grafana_anonymous_access_fails() -> None:
    page = answer(200, b"<!DOCTYPE html><title>Grafana</title>", url=GRAFANA + "/")
    assert http_problems(expectation("grafana-login"), page) == [
        "status 200 OK, expected 302",
        "200 without a login means anonymous access is enabled",
    ]


def test_grafana_redirect_elsewhere_names_the_location() -> None:
    redirect = answer(302, reason="Found", url=GRAFANA + "/", Location="/signup")
    assert http_problems(expectation("grafana-login"), redirect) == [
        "Location is '/signup', expected to match '^/login'"
    ]


def health(database: str) -> bytes:
    return json.dumps(
        {"commit": "5f6c9bbd8e", "database": database, "version": "11.3.0"}, indent=2
    ).encode()


def test_grafana_health_ok_passes() -> None:
    assert http_problems(expectation("grafana-health"), answer(body=health("ok"))) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (health("failing"), "JSON field 'database' is 'failing', expected 'ok'"),
        (b"<html>Service Unavailable</html>", "body is not JSON"),
        (b'["ok"]', "body is not a JSON object"),
    ],
)
def test_grafana_health_problems(body: bytes, problem: str) -> None:
    assert http_problems(expectation("grafana-health"), answer(body=body)) == [problem]


# --- the probe: URL, status and problems in the verdict ------------------------------------
@dataclass
class FakeResponse:
    url: str
    status_code: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


class FakeSession:
    """Answers every GET with one canned response and records the URLs (that WebClient does
    not follow redirects: tests/test_web.py)."""

    def __init__(self, response: FakeResponse) -> None:
        self.response = response
        self.requested: list[str] = []

    def get(self, url: str, query: list[tuple[str, str]] | None = None) -> HttpAnswer:
        self.requested.append(url)
        r = self.response
        return HttpAnswer(r.url, r.status_code, r.reason, r.headers, r.content)

    def close(self) -> None:
        pass


def endpoint_verdict(name: str, response: FakeResponse) -> tuple[Result, FakeSession]:
    session = FakeSession(response)
    settings = Settings(grafana_url=GRAFANA, productpage_url="http://192.0.2.10:30080")
    reader = StackReader(STACK, settings, None)
    reader.http = session  # type: ignore[assignment]
    with closing(Runner(reader, [])) as runner:
        return runner.evaluate(check(f"endpoint[{name}]")), session


def test_endpoint_probe_passes_on_the_redirect_itself() -> None:
    verdict, session = endpoint_verdict(
        "grafana-login", FakeResponse(GRAFANA + "/", 302, "Found", {"Location": "/login"})
    )
    assert verdict.status is Status.PASSED, verdict.reason
    assert session.requested == [GRAFANA + "/"]


def test_endpoint_probe_failure_names_the_url_and_the_reason() -> None:
    verdict, _ = endpoint_verdict(
        "grafana-login", FakeResponse(GRAFANA + "/", 200, "OK", {}, b"<title>Grafana</title>")
    )
    assert verdict.status is Status.FAILED
    assert verdict.summary == f"GET {GRAFANA}/ -> 200, 22 bytes"
    assert "anonymous access is enabled" in verdict.reason
    assert verdict.evidence  # the exchange is attached


# --- issue 11: several answers, each judged ---------------------------------------------------
def served(pod: str, size: int) -> HttpAnswer:
    reviews = (
        '<h4>Book Reviews</h4><div class="mt-1 font-mono">Reviews served by:\n'
        f"              {pod}\n</div>"
    )
    return answer(body=productpage_body(reviews=reviews, size=size))


def test_each_sample_is_judged_and_listed_with_the_pod_that_served_it() -> None:
    answers = (
        served("reviews-v1-545db77b95-vk7l9", 9429),
        served("reviews-v2-7bf8c9648f-2xqwm", 15072),
        served("reviews-v3-84779c7bbc-9zh4g", 15068),
    )
    result = endpoint_answers(expectation("productpage"), *answers)
    assert result.status is Status.PASSED, result.reason
    assert result.summary == (
        f"GET {PRODUCTPAGE} -> 200, 9429 bytes (reviews reviews-v1-545db77b95-vk7l9); "
        "200, 15072 bytes (reviews reviews-v2-7bf8c9648f-2xqwm); "
        "200, 15068 bytes (reviews reviews-v3-84779c7bbc-9zh4g)"
    )
    assert result.evidence == ()  # built to explain a failure only


def test_a_passing_answer_carries_no_evidence_and_a_failing_one_does() -> None:
    good = endpoint_answers(expectation("productpage"), served("reviews-v1-a", 9429))
    bad = endpoint_answers(expectation("productpage"), answer(status=503, body=b"down"))
    assert good.evidence == ()
    assert [e.name for e in bad.evidence] == [f"GET {PRODUCTPAGE}"]


def test_one_bad_sample_fails_naming_its_answer_and_pod() -> None:
    answers = (
        served("reviews-v1-545db77b95-vk7l9", 9429),
        served("reviews-v2-7bf8c9648f-2xqwm", 22072),
    )
    result = endpoint_answers(expectation("productpage"), *answers)
    assert result.failures == (
        "answer 2/2 (reviews reviews-v2-7bf8c9648f-2xqwm): body length "
        "is 22072 bytes, expected between 9000 and 15500",
    )
    assert [e.name for e in result.evidence] == [  # every answer, the good one to compare
        f"GET {PRODUCTPAGE} (answer 1)",
        f"GET {PRODUCTPAGE} (answer 2)",
    ]


def test_served_by_reads_the_pod_name_after_the_marker() -> None:
    assert served_by(served("reviews-v3-84779c7bbc-9zh4g", 9429)) == "reviews-v3-84779c7bbc-9zh4g"
    assert served_by(answer(body=b"<html>no marker</html>")) is None


def test_the_productpage_check_declares_three_distinct_reads() -> None:
    reads = check("endpoint[productpage]").reads
    assert len(set(reads)) == 3


def test_evidence_keeps_the_head_and_names_the_lines_of_note_further_down() -> None:
    lines = ["<html>", "x" * 5000, "<p>ok</p>\r", "<div>Error fetching product reviews!</div>"]
    lines += ["fine", "Sorry, product ratings are currently unavailable for this book.", ""]
    answer = HttpAnswer(PRODUCTPAGE, 200, "OK", {}, "\n".join(lines).encode())
    text = http_evidence(answer).text
    assert text.startswith(f"GET {PRODUCTPAGE}\n\nHTTP 200 OK\n")
    assert "more bytes; lines of note:)\n" in text
    assert text.endswith(
        "    4: <div>Error fetching product reviews!</div>\n"
        "    6: Sorry, product ratings are currently unavailable for this book.\n"
    )
    assert "fine" not in text.split("lines of note")[1]
