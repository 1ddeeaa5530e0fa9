"""The endpoint failover every chain family's source uses: URL order, fail-back, what counts as a
failure, the error when every URL failed, and the backoff on throttling.

The sources' own tests (test_evm_source, test_tron_source, test_solana_source) show it against
real nodes and simulators; these pin the rules themselves, which those can only reach by timing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from watchers.base import SourceError, SourceUnavailable
from watchers.failover import (
    AllTimedOut,
    EndpointFailure,
    Rotation,
    Throttled,
    backoff_delay,
    retry_after_seconds,
    retry_throttled,
)

LABELS = ["http://primary", "http://backup", "http://third"]


class Answers:
    """What each URL index does when asked: a value to answer with, or an exception to raise."""

    def __init__(self, *behaviours: object) -> None:
        self.behaviours = list(behaviours)
        self.asked: list[int] = []

    async def __call__(self, index: int) -> object:
        self.asked.append(index)
        behaviour = self.behaviours[index]
        if isinstance(behaviour, Exception):
            raise behaviour
        return behaviour


async def test_the_first_url_that_answers_is_used_and_tried_first_from_then_on() -> None:
    rotation = Rotation("eth", LABELS, failback_after=3600)
    down = Answers(EndpointFailure("refused"), "from backup", "from third")
    assert await rotation.first_answer("eth_blockNumber", down) == "from backup"
    assert down.asked == [0, 1] and rotation.active == 1
    again = Answers("from primary", "from backup again", "from third")
    assert await rotation.first_answer("eth_blockNumber", again) == "from backup again"
    assert again.asked == [1], "the working backup first, not the primary that failed"
    assert rotation.order() == [1, 2, 0]


async def test_the_preferred_url_is_tried_again_after_failback_after() -> None:
    rotation = Rotation("tron", LABELS, failback_after=0.05)
    await rotation.first_answer("head", Answers(EndpointFailure("down"), 1, 2))
    assert rotation.order()[0] == 1
    await asyncio.sleep(0.06)
    assert rotation.order()[0] == 0
    assert await rotation.first_answer("head", Answers("recovered", 1, 2)) == "recovered"
    assert rotation.active == 0


async def test_an_error_answer_marks_the_url_working_and_other_errors_pass_untouched() -> None:
    class NodeSaidNo(SourceError):
        pass

    rotation = Rotation("solana", LABELS, failback_after=3600)
    refusing = Answers(EndpointFailure("down"), NodeSaidNo("slot skipped"), "unused")
    with pytest.raises(NodeSaidNo):
        await rotation.first_answer("getBlock", refusing, answers=(NodeSaidNo,))
    assert refusing.asked == [0, 1] and rotation.active == 1, "an answer, not an outage"

    rotation = Rotation("solana", LABELS, failback_after=3600)
    broken = Answers(ValueError("a bug"), "unused", "unused")
    with pytest.raises(ValueError, match="a bug"):
        await rotation.first_answer("getBlock", broken)
    assert broken.asked == [0] and rotation.active == 0, "not a node failure: no failover"


async def test_every_url_failing_names_each_failure() -> None:
    rotation = Rotation("eth", LABELS, failback_after=3600)
    failures = Answers(
        EndpointFailure("refused"), EndpointFailure("HTTP 502"), EndpointFailure("not JSON")
    )
    with pytest.raises(SourceUnavailable) as caught:
        await rotation.first_answer("eth_getLogs", failures)
    assert not isinstance(caught.value, AllTimedOut)
    assert str(caught.value) == (
        "eth: eth_getLogs failed on every RPC URL: http://primary: refused; "
        "http://backup: HTTP 502; http://third: not JSON"
    )
    tron = Rotation("tron", LABELS[:1], failback_after=3600, urls_are_called="URL")
    with pytest.raises(SourceUnavailable, match="tron: head failed on every URL: "):
        await tron.first_answer("head", Answers(EndpointFailure("refused")))


async def test_all_timed_out_only_when_every_url_timed_out() -> None:
    slow = EndpointFailure("no answer within 1 s", timed_out=True)
    with pytest.raises(AllTimedOut, match="no answer within"):
        await Rotation("eth", LABELS, 3600).first_answer("eth_getLogs", Answers(slow, slow, slow))
    mixed = Answers(slow, EndpointFailure("refused"), slow)
    with pytest.raises(SourceUnavailable) as caught:
        await Rotation("eth", LABELS, 3600).first_answer("eth_getLogs", mixed)
    assert not isinstance(caught.value, AllTimedOut)


async def test_throttled_requests_are_retried_then_handed_to_the_next_url() -> None:
    answers: Iterator[Throttled | str] = iter(
        [Throttled("HTTP 429", "0.05"), Throttled("HTTP 503", "0.05"), "ok"]
    )

    async def request() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    started = time.monotonic()
    assert await retry_throttled(request, retries=3, base=5.0, cap=10.0) == "ok"
    assert 0.1 <= time.monotonic() - started < 1.0, "Retry-After honoured, not the 5 s base"

    calls = 0

    async def always_throttled() -> str:
        nonlocal calls
        calls += 1
        raise Throttled(f"HTTP 429 #{calls}", "0")

    with pytest.raises(Throttled, match="#3"):
        await retry_throttled(always_throttled, retries=2, base=0.01, cap=0.01)
    assert calls == 3


def test_backoff_delay_doubles_with_jitter_within_the_cap() -> None:
    for attempt in range(4):
        delays = [backoff_delay(attempt, 0.5, 100.0) for _ in range(200)]
        nominal = 0.5 * 2**attempt
        assert nominal * 0.5 <= min(delays) and max(delays) <= nominal * 1.5
        assert len(set(delays)) > 1, "jittered"
    assert backoff_delay(10, 0.5, 10.0) <= 10.0
    assert backoff_delay(0, 0.5, 10.0, retry_after=60.0) == 10.0
    assert backoff_delay(0, 0.5, 10.0, retry_after=-3.0) == 0.0


def test_retry_after_is_read_in_seconds_or_ignored() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("0.25") == 0.25
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert Throttled("HTTP 429", "1.5").retry_after == 1.5
    assert Throttled("HTTP 503").retry_after is None
