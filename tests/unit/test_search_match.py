"""``match:`` in the query language: words, meaning or both (the default)."""

from __future__ import annotations

import pytest

from opendems.domain.errors import Invalid
from opendems.domain.search import SearchFilters, SearchMatch, parse_query
from opendems.services.search_view import with_match


def test_match_is_both_unless_asked() -> None:
    assert parse_query("river bag").match is SearchMatch.BOTH
    assert parse_query("river match:words").match is SearchMatch.WORDS
    assert parse_query("match:Meaning river").match is SearchMatch.MEANING
    q = parse_query("river match:words kind:video")
    assert q.merged(SearchFilters(tags=("night",))).match is SearchMatch.WORDS


def test_a_bad_or_twice_given_match_is_a_clear_error() -> None:
    with pytest.raises(Invalid, match="is not one of: both, words, meaning"):
        parse_query("river match:sounds")
    with pytest.raises(Invalid, match="given twice"):
        parse_query("river match:words match:meaning")
    with pytest.raises(Invalid, match="cannot be combined with OR"):
        parse_query("river OR match:words")


def test_with_match_adds_the_option_outside_an_unbalanced_quote() -> None:
    assert parse_query(with_match('"river bag', SearchMatch.WORDS)).match is SearchMatch.WORDS
    assert with_match("river", None) == "river"
    assert with_match("", SearchMatch.MEANING) == "match:meaning"
