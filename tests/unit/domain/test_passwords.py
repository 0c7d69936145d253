"""The password policy on its own: length, the blocklist, the user's own names, guessability."""

from __future__ import annotations

import pytest

from opendems.domain.errors import Invalid
from opendems.domain.passwords import assess, blocklist_size, check_new_password


def test_the_blocklist_is_large_enough() -> None:
    assert blocklist_size() >= 20_000  # common and breached passwords, words, names


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        ("short1!", "at least 8 characters"),
        ("password1", "common password"),
        ("P@ssw0rd", "common password"),  # substitutions do not hide it
        ("sunshine", "common password"),
        ("dictionary", "common password"),  # a plain word
        ("henderson", "common password"),  # a surname
        ("olga-2026-x", "your own name"),
        ("aaaaaaaaaaaa", "Repeats"),  # zxcvbn's own reason
    ],
)
def test_refused_with_the_reason(candidate: str, why: str) -> None:
    verdict = assess(candidate, ["olga", "Olga Petrova"])
    assert not verdict.acceptable and any(why in p for p in verdict.problems), verdict.problems
    with pytest.raises(Invalid, match=why):
        check_new_password(candidate, ["olga", "Olga Petrova"])


@pytest.mark.parametrize("candidate", ["river stone lantern", "correct horse battery", "xq7!vLp9-rty"])
def test_long_or_random_passwords_pass_without_composition_rules(candidate: str) -> None:
    verdict = assess(candidate, ["olga"])
    assert verdict.acceptable and verdict.score >= 2 and verdict.problems == ()


def test_no_truncation_and_a_clear_upper_bound() -> None:
    long = "river stone lantern " * 20  # 400 characters: all of it counts
    assert assess(long).acceptable
    assert not assess("x" * 1025).acceptable
