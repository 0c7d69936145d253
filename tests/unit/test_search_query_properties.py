"""Property-based tests of the search query parser: whatever the text, a clean tree or Invalid."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from opendems.domain.errors import Invalid
from opendems.domain.search import (
    MAX_QUERY_CHARS,
    And,
    Expr,
    Not,
    Or,
    Phrase,
    SearchFilters,
    SearchQuery,
    Word,
    normalise_text,
    parse_query,
    positive_words,
    simplify,
    to_text,
    words_of,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORD_ONLY = re.compile(r"\w+")

# Pieces of query syntax, so that generated text reaches the parser's corners, not just the lexer.
SYNTAX = st.sampled_from(
    [
        "AND", "OR", "NOT", "and", "(", ")", '"', "-", "*", "^", ":", "..", ",", "NEAR(", "{", "}",
        "kind:video", "kind:", "tag:night", 'tag:"car park"', "officer:", "state:ready", "sort:newest",
        "captured:2026-01-01..", "captured:..2026-02", "near:52.37,4.89,2km", "bbox:1,2,3,4",
        "title:x", "1=1", "'", ";", "--", "burg*", "x-ray", "2026-00123", "\x00", "\u200b", "\u0301",
        "ß", "İ", "ﬁ", "ǅ", "\ufdfa",
    ]
)  # fmt: skip
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=MAX_QUERY_CHARS + 50)
QUERY_LIKE = st.lists(st.one_of(SYNTAX, st.text(max_size=6)), max_size=40).flatmap(
    lambda parts: st.sampled_from([" ".join(parts), "".join(parts)])
)


def try_parse(q: str) -> SearchQuery | None:
    try:
        return parse_query(q)
    except Invalid as exc:
        assert exc.message
        return None


def walk(expr: Expr | None, negated: bool = False) -> list[tuple[Expr, bool]]:
    """Every node with whether it lies under a Not."""
    if expr is None:
        return []
    out: list[tuple[Expr, bool]] = [(expr, negated)]
    if isinstance(expr, Not):
        out += walk(expr.item, True)
    elif isinstance(expr, And | Or):
        for item in expr.items:
            out += walk(item, negated)
    return out


def words_in(expr: Expr | None, *, positive: bool) -> set[str]:
    found: set[str] = set()
    for node, negated in walk(expr):
        if positive and negated:
            continue
        if isinstance(node, Word):
            found.add(node.text)
        elif isinstance(node, Phrase):
            found.update(node.words)
    return found


def check_clean(expr: Expr | None) -> None:
    for node, _ in walk(expr):
        if isinstance(node, Word):
            assert WORD_ONLY.fullmatch(node.text), node
            assert not node.prefix or len(node.text) >= 2
        elif isinstance(node, Phrase):
            assert len(node.words) >= 2
            for word in node.words:
                assert WORD_ONLY.fullmatch(word), node
        elif isinstance(node, And | Or):
            assert len(node.items) >= 2
            assert not any(isinstance(item, type(node)) for item in node.items)  # flattened
        else:
            assert not isinstance(node.item, Not)  # no double negation
    assert simplify(expr) == expr


# -- any text at all ------------------------------------------------------------------------


@SETTINGS
@given(st.one_of(ANY_TEXT, QUERY_LIKE))
def test_any_text_gives_a_clean_tree_or_invalid(q: str) -> None:
    query = try_parse(q)
    if query is None:
        return
    check_clean(query.text)
    assert set(positive_words(query.text)) <= words_in(query.text, positive=True)


@SETTINGS
@given(st.one_of(ANY_TEXT, QUERY_LIKE))
def test_parsed_text_renders_back_to_the_same_tree(q: str) -> None:
    query = try_parse(q)
    assume(query is not None and query.text is not None)
    assert query is not None
    rendered = to_text(query.text)
    assume(len(rendered) <= MAX_QUERY_CHARS)
    again = try_parse(rendered)
    assume(again is not None)  # rendering may add one level of parentheses past the limit
    assert again is not None
    assert again.text == query.text
    assert again.filters == SearchFilters()


# -- generated trees ------------------------------------------------------------------------


def words(min_size: int = 1) -> st.SearchStrategy[str]:
    """Words as the parser leaves them: normalised, nothing but word characters."""
    return (
        st.text(alphabet=st.characters(categories=("L", "N", "Pc")), min_size=min_size, max_size=6)
        .map(normalise_text)
        .filter(lambda w: words_of(w) == [w] and len(w) >= min_size)
    )


LEAVES = st.one_of(
    st.builds(Word, words()),
    st.builds(Word, words(2), st.just(True)),
    st.lists(words(), min_size=2, max_size=3).map(lambda ws: Phrase(tuple(ws))),
)
TREES: st.SearchStrategy[Expr] = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        children.map(Not),
        st.lists(children, min_size=1, max_size=4).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=1, max_size=4).map(lambda xs: Or(tuple(xs))),
    ),
    max_leaves=16,
)


@SETTINGS
@given(TREES)
def test_generated_trees_round_trip(tree: Expr) -> None:
    expected = simplify(tree)
    assert expected is not None
    rendered = to_text(expected)
    assume(len(rendered) <= MAX_QUERY_CHARS)
    assert parse_query(rendered).text == expected


@SETTINGS
@given(TREES)
def test_positive_words_leave_out_what_is_only_negated(tree: Expr) -> None:
    for expr in (tree, simplify(tree)):
        found = positive_words(expr)
        assert len(found) == len(set(found))
        assert set(found) == words_in(expr, positive=True)
        only_negated = words_in(expr, positive=False) - words_in(expr, positive=True)
        assert not only_negated & set(found)
