"""Password policy (NIST SP 800-63B / CJIS IA): length, no composition rules, a blocklist.

The blocklist and the strength estimate come from the ``zxcvbn`` package (MIT licence,
Dropbox): 30,000 common and breached passwords, 30,000 English words from Wikipedia,
19,160 words from film and television, and 14,695 first names and surnames. A password is
refused when it *is* one of those (case and common letter substitutions ignored), when it
contains the user's own names, or when zxcvbn estimates it falls to fewer than a million
guesses. The estimate's own feedback says why, for the strength meter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from opendems.domain.errors import Invalid

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
_ESTIMATE_CHARS = 72  # zxcvbn refuses longer input (and is slow on it); past 72 a password is strong anyway
_LEET = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_LISTS = ("passwords", "english_wikipedia", "us_tv_and_film", "female_names", "male_names", "surnames")


@cache
def _blocklist() -> frozenset[str]:
    return frozenset(word for name in _LISTS for word in FREQUENCY_LISTS[name])


def blocklist_size() -> int:
    return len(_blocklist())


@dataclass(frozen=True)
class Strength:
    score: int  # 0-4, zxcvbn's scale
    acceptable: bool
    problems: tuple[str, ...]  # why it is refused (empty when acceptable)
    suggestions: tuple[str, ...]


def _personal(user_inputs: list[str]) -> list[str]:
    parts: list[str] = []
    for value in user_inputs:
        for piece in value.lower().replace(".", " ").replace("_", " ").replace("-", " ").split():
            if len(piece) >= 3:
                parts.append(piece)
    return parts


def assess(password: str, user_inputs: list[str] | None = None) -> Strength:
    """Judge a candidate password; ``user_inputs`` are the user's name, display name, e-mail."""
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_CHARS:
        problems.append(f"A password needs at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        problems.append(f"A password may have at most {MAX_PASSWORD_CHARS} characters.")
    lowered = password.lower()
    stripped = lowered.strip()
    blocked = _blocklist()
    if stripped in blocked or stripped.translate(_LEET) in blocked:
        problems.append("This is a common password, word or name: it is on the list attackers try first.")
    personal = _personal(user_inputs or [])
    if any(part in lowered for part in personal):
        problems.append("A password must not contain your own name or user name.")
    estimate = zxcvbn(password[:_ESTIMATE_CHARS], user_inputs=personal)
    score = int(estimate["score"])
    feedback = estimate.get("feedback") or {}
    suggestions = tuple(feedback.get("suggestions") or ())
    if score < 2 and not problems:
        warning = feedback.get("warning") or "This password is too easy to guess."
        problems.append(warning if warning.endswith(".") else warning + ".")
    return Strength(
        score=0 if problems else score,
        acceptable=not problems,
        problems=tuple(problems),
        suggestions=suggestions,
    )


def check_new_password(password: str, user_inputs: list[str] | None = None) -> str:
    """The password, or ``Invalid`` saying why it is refused."""
    verdict = assess(password, user_inputs)
    if not verdict.acceptable:
        raise Invalid(" ".join(verdict.problems))
    return password
