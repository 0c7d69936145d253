"""The search query language: each construct, precedence, filters, leniency, errors, injection."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from opendems.domain.errors import Invalid
from opendems.domain.evidence import EvidenceKind, EvidenceStatus, Restriction
from opendems.domain.search import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    And,
    Expr,
    FacetCount,
    GeoBox,
    GeoCircle,
    Hit,
    Not,
    Or,
    Phrase,
    SearchFilters,
    SearchQuery,
    SearchResult,
    SearchSort,
    Word,
    parse_query,
    positive_words,
    simplify,
    to_text,
)


def text(q: str) -> Expr | None:
    return parse_query(q).text


def filters(q: str) -> SearchFilters:
    query = parse_query(q)
    assert query.text is None
    return query.filters


def invalid(q: str) -> str:
    with pytest.raises(Invalid) as caught:
        parse_query(q)
    return str(caught.value.message)


W = Word


# -- text constructs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("burglary", W("burglary")),
        ("Burglary", W("burglary")),
        ("STRASSE Straße", And((W("strasse"), W("strasse")))),  # case folding
        ("".join(chr(ord(c) + 0xFEE0) for c in "FullWidth"), W("fullwidth")),  # NFKC
        ("café", W("café")),
        ("red pickup", And((W("red"), W("pickup")))),
        ('"red pickup truck"', Phrase(("red", "pickup", "truck"))),
        ('"Red,  PICKUP!"', Phrase(("red", "pickup"))),
        ('"single"', W("single")),
        ('""', None),
        ("\u201cred pickup\u201d", Phrase(("red", "pickup"))),  # typographic quotes
        ("burg*", W("burg", prefix=True)),
        ("Burg**", W("burg", prefix=True)),
        ("b*", W("b")),  # fewer than two characters: an ordinary word
        ("*burg", W("burg")),
        ("x-ray", Phrase(("x", "ray"))),
        ("2026-00123", Phrase(("2026", "00123"))),
        ("j.smith", Phrase(("j", "smith"))),
        ("it's", Phrase(("it", "s"))),
        ("snake_case", W("snake_case")),
        ("a AND b", And((W("a"), W("b")))),
        ("a b", And((W("a"), W("b")))),
        ("a OR b", Or((W("a"), W("b")))),
        ("NOT a", Not(W("a"))),
        ("-a", Not(W("a"))),
        ('-"red car"', Not(Phrase(("red", "car")))),
        ("-(a OR b)", Not(Or((W("a"), W("b"))))),
        ("(a OR b) c", And((Or((W("a"), W("b"))), W("c")))),
        ("and or not", And((W("and"), W("or"), W("not")))),  # lowercase: plain words
        ("And", W("and")),
    ],
)
def test_text_constructs(q: str, expected: Expr | None) -> None:
    assert text(q) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("a b OR c", Or((And((W("a"), W("b"))), W("c")))),
        ("a OR b c", Or((W("a"), And((W("b"), W("c")))))),
        ("a OR b AND c", Or((W("a"), And((W("b"), W("c")))))),
        ("NOT a b", And((Not(W("a")), W("b")))),
        ("NOT a OR b", Or((Not(W("a")), W("b")))),
        ("a OR NOT b", Or((W("a"), Not(W("b"))))),
        ("NOT (a b)", Not(And((W("a"), W("b"))))),
        ("a (b c) d", And((W("a"), W("b"), W("c"), W("d")))),  # nested ANDs flattened
        ("a OR (b OR c)", Or((W("a"), W("b"), W("c")))),
        ("NOT NOT a", W("a")),
        ("- -a", Not(W("a"))),  # a lone "-" is punctuation
    ],
)
def test_precedence_not_over_and_over_or(q: str, expected: Expr) -> None:
    assert text(q) == expected


# -- filters ------------------------------------------------------------------------------


def test_empty_query() -> None:
    assert parse_query("") == SearchQuery(text=None, filters=SearchFilters())
    assert parse_query("   \t\n ") == SearchQuery(text=None, filters=SearchFilters())


def test_each_list_field() -> None:
    f = filters(
        'kind:video officer:"J. Smith" device:BWC-0042 case:2026-00123 category:Burglary '
        "tag:night restriction:sealed state:ready"
    )
    assert f.kinds == (EvidenceKind.VIDEO,)
    assert f.officers == ("J. Smith",)
    assert f.devices == ("BWC-0042",)
    assert f.cases == ("2026-00123",)
    assert f.categories == ("Burglary",)
    assert f.tags == ("night",)
    assert f.restrictions == (Restriction.SEALED,)
    assert f.states == (EvidenceStatus.READY,)


def test_filters_and_text_mix_and_field_names_ignore_case() -> None:
    query = parse_query("knife KIND:Video Kind:AUDIO burglary")
    assert query.text == And((W("knife"), W("burglary")))
    assert query.filters.kinds == (EvidenceKind.VIDEO, EvidenceKind.AUDIO)


def test_filter_inside_an_and_group_is_fine() -> None:
    query = parse_query("(knife kind:video) gun")
    assert query.text == And((W("knife"), W("gun")))
    assert query.filters.kinds == (EvidenceKind.VIDEO,)


def test_repeated_values_collect_once_each() -> None:
    f = filters("tag:night tag:rain tag:night kind:image kind:image state:on-hold state:on_hold")
    assert f.tags == ("night", "rain")
    assert f.kinds == (EvidenceKind.IMAGE,)
    assert f.states == (EvidenceStatus.ON_HOLD,)


def test_quoted_value_keeps_spaces_and_collapses_runs() -> None:
    assert filters('tag:"car   park"').tags == ("car park",)
    assert filters('officer:"unclosed value').officers == ("unclosed value",)


@pytest.mark.parametrize(
    ("q", "start", "stop"),
    [
        (
            "captured:2026-01-01..2026-02-01",
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 2, 1, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        ("captured:2026-01-01..", datetime(2026, 1, 1, tzinfo=UTC), None),
        ("captured:..2026-01-31", None, datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        (
            "captured:2026-03-05",
            datetime(2026, 3, 5, tzinfo=UTC),
            datetime(2026, 3, 5, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "captured:2026-02",
            datetime(2026, 2, 1, tzinfo=UTC),
            datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "captured:2026-12",
            datetime(2026, 12, 1, tzinfo=UTC),
            datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "captured:2026",
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "captured:2026-01-01T10:00:00Z..2026-01-01T12:30:00+01:00",
            datetime(2026, 1, 1, 10, tzinfo=UTC),
            datetime(2026, 1, 1, 11, 30, tzinfo=UTC),
        ),
        (
            "captured:2026-01-01T10:00..",  # no zone: UTC
            datetime(2026, 1, 1, 10, tzinfo=UTC),
            None,
        ),
        (
            'captured:"2026-01-01 .. 2026-01-02"',
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 1, 2, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        ("captured:9999", datetime(9999, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)),
        # two ranges intersect
        (
            "captured:2026-01-01..2026-06-30 captured:2026-03-01..2026-12-31",
            datetime(2026, 3, 1, tzinfo=UTC),
            datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
        ),
    ],
)
def test_captured_ranges(q: str, start: datetime | None, stop: datetime | None) -> None:
    f = filters(q)
    assert (f.captured_from, f.captured_to) == (start, stop)
    for moment in (f.captured_from, f.captured_to):
        assert moment is None or moment.utcoffset() == timedelta(0)


def test_captured_times_are_converted_to_utc() -> None:
    f = filters("captured:2026-01-01T02:00:00+02:00..")
    assert f.captured_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert f.captured_from == datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("q", "needle"),
    [
        ("captured:2026-02-01..2026-01-01", "starts after it ends"),
        ("captured:2026-01-01T12:00Z..2026-01-01T11:00Z", "starts after it ends"),
        ("captured:2026-01..2026-02 captured:2026-05..", "range is empty"),
        ("captured:..", "at least one side"),
        ("captured:yesterday", "not a date"),
        ("captured:2026-13-01", "not a valid date"),
        ("captured:2026-02-30", "not a valid date"),
        ("captured:0000", "not a valid date"),
        ("captured:2026-01-01T25:00", "not a valid date"),
        ("captured:", "needs a value"),
    ],
)
def test_captured_errors(q: str, needle: str) -> None:
    assert needle in invalid(q)


@pytest.mark.parametrize(
    ("q", "circle"),
    [
        ("near:52.37,4.89,2km", GeoCircle(52.37, 4.89, 2000.0)),
        ("near:52.37,4.89,500m", GeoCircle(52.37, 4.89, 500.0)),
        ("near:-33.9,151.2,1.5KM", GeoCircle(-33.9, 151.2, 1500.0)),
        ("near:0,0,250", GeoCircle(0.0, 0.0, 250.0)),  # no unit: metres
        ('near:"52.37, 4.89, 2 km"', GeoCircle(52.37, 4.89, 2000.0)),
        ("near:90,180,500km", GeoCircle(90.0, 180.0, 500_000.0)),
        ("near:-90,-180,1m", GeoCircle(-90.0, -180.0, 1.0)),
        ("near:1,2,3km near:1,2,3km", GeoCircle(1.0, 2.0, 3000.0)),
    ],
)
def test_near(q: str, circle: GeoCircle) -> None:
    assert filters(q).near == circle


@pytest.mark.parametrize(
    ("q", "needle"),
    [
        ("near:52.37,4.89", "LATITUDE,LONGITUDE,RADIUS"),
        ("near:52.37,4.89,2km,1", "LATITUDE,LONGITUDE,RADIUS"),
        ("near:91,4.89,2km", "latitude"),
        ("near:52,-181,2km", "longitude"),
        ("near:52,4,501km", "at most 500km"),
        ("near:52,4,500001m", "at most 500km"),
        ("near:52,4,0m", "more than 0"),
        ("near:52,4,2mi", "500m or 2km"),
        ("near:nan,4,2km", "not a number"),
        ("near:inf,4,2km", "not a number"),
        ("near:1e3,4,2km", "not a number"),
        ("near:1,2,3km near:1,2,4km", "only once"),
    ],
)
def test_near_errors(q: str, needle: str) -> None:
    assert needle in invalid(q)


def test_bbox() -> None:
    assert filters("bbox:52.30,4.80,52.40,5.00").box == GeoBox(52.30, 4.80, 52.40, 5.00)
    assert filters("bbox:-90,-180,90,180").box == GeoBox(-90.0, -180.0, 90.0, 180.0)
    assert filters("bbox:1,1,1,1").box == GeoBox(1.0, 1.0, 1.0, 1.0)
    assert filters("bbox:-20,170,-10,-170").box == GeoBox(-20.0, 170.0, -10.0, -170.0)  # across 180°


@pytest.mark.parametrize(
    ("q", "needle"),
    [
        ("bbox:1,2,3", "SOUTH,WEST,NORTH,EAST"),
        ("bbox:-91,0,0,0", "south latitude"),
        ("bbox:0,0,91,0", "north latitude"),
        ("bbox:0,-180.5,1,1", "west longitude"),
        ("bbox:0,0,1,181", "east longitude"),
        ("bbox:10,0,5,1", "south edge lies north"),
        ("bbox:a,b,c,d", "not a number"),
        ("bbox:0,0,1,1 bbox:0,0,2,2", "only once"),
    ],
)
def test_bbox_errors(q: str, needle: str) -> None:
    assert needle in invalid(q)


@pytest.mark.parametrize("value", list(SearchSort))
def test_sort(value: SearchSort) -> None:
    assert parse_query(f"burglary sort:{value.value.upper()}").sort is value


def test_sort_default_and_errors() -> None:
    assert parse_query("burglary").sort is SearchSort.RELEVANCE
    assert parse_query("sort:newest sort:newest").sort is SearchSort.NEWEST
    assert "given twice" in invalid("sort:newest sort:oldest")
    assert "relevance, newest, oldest, captured" in invalid("sort:random")


@pytest.mark.parametrize(
    ("q", "needle"),
    [
        ("kind:movie", "video, audio, image, document, other"),
        ("restriction:secret", "normal, restricted, sealed"),
        ("state:lost", "processing, ready, failed, on_hold, disposed"),
        ("tag:", "needs a value, for example tag:night"),
        ('tag:""', "needs a value"),
        ('officer:"   "', "needs a value"),
        ("tag:" + "x" * 201, "longer than 200"),
    ],
)
def test_filter_value_errors(q: str, needle: str) -> None:
    assert needle in invalid(q)


def test_merged_adds_to_the_query_filters() -> None:
    query = parse_query("knife kind:video tag:night captured:2026-01-01..2026-06-30 sort:oldest")
    extra = SearchFilters(
        kinds=(EvidenceKind.AUDIO, EvidenceKind.VIDEO),
        tags=("rain",),
        cases=("2026-1",),
        captured_from=datetime(2026, 3, 1, tzinfo=UTC),
        near=GeoCircle(1.0, 2.0, 300.0),
    )
    merged = query.merged(extra)
    assert merged.text == query.text
    assert merged.sort is SearchSort.OLDEST
    assert merged.filters.kinds == (EvidenceKind.VIDEO, EvidenceKind.AUDIO)
    assert merged.filters.tags == ("night", "rain")
    assert merged.filters.cases == ("2026-1",)
    assert merged.filters.captured_from == datetime(2026, 3, 1, tzinfo=UTC)
    assert merged.filters.captured_to == datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
    assert merged.filters.near == GeoCircle(1.0, 2.0, 300.0)
    assert query.merged(SearchFilters()) == query


def test_merged_refuses_what_cannot_hold_together() -> None:
    query = parse_query("captured:2026-01 near:1,2,3km")
    with pytest.raises(Invalid, match="range is empty"):
        query.merged(SearchFilters(captured_from=datetime(2026, 3, 1, tzinfo=UTC)))
    with pytest.raises(Invalid, match="only once"):
        query.merged(SearchFilters(near=GeoCircle(1.0, 2.0, 10.0)))


# -- leniency -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"red pickup', Phrase(("red", "pickup"))),  # unbalanced quote closes at the end
        ('knife "red pickup', And((W("knife"), Phrase(("red", "pickup"))))),
        ('"', None),
        ("AND", None),
        ("OR", None),
        ("NOT", None),
        ("AND OR NOT", None),
        ("a AND", W("a")),
        ("OR a", W("a")),
        ("a OR OR b", Or((W("a"), W("b")))),
        ("a AND AND b", And((W("a"), W("b")))),
        ("a NOT", W("a")),
        ("a NOT OR b", Or((W("a"), W("b")))),
        ("a OR", W("a")),
        (")", None),
        (") a (", W("a")),
        ("a) b", And((W("a"), W("b")))),
        ("a OR b) c", And((Or((W("a"), W("b"))), W("c")))),
        ("((a", W("a")),
        ("(a OR b", Or((W("a"), W("b")))),
        ("()", None),
        ("NOT ()", None),
        ("-", None),
        ("- a", W("a")),
        ("...", None),
        ("re: burglary", And((W("re"), W("burglary")))),  # a word ending in a colon
    ],
)
def test_leniency(q: str, expected: Expr | None) -> None:
    assert text(q) == expected


def test_only_filters_is_fine() -> None:
    query = parse_query("kind:video sort:newest")
    assert query.text is None
    assert query.sort is SearchSort.NEWEST


# -- errors -------------------------------------------------------------------------------


def test_unknown_field_names_the_known_ones() -> None:
    message = invalid("title:burglary")
    assert "'title:'" in message
    for name in ("kind", "officer", "device", "case", "category", "tag", "restriction", "state"):
        assert f"{name}:" in message
    for name in ("captured", "near", "bbox", "sort"):
        assert f"{name}:" in message
    assert "quotes" in message
    assert parse_query('"title:burglary"').text == Phrase(("title", "burglary"))


@pytest.mark.parametrize("q", ["-kind:video", "NOT kind:video", "NOT (kind:video burglary)", "-(tag:x)"])
def test_negated_filter(q: str) -> None:
    assert "cannot be negated" in invalid(q)


@pytest.mark.parametrize(
    "q",
    ["kind:video OR kind:audio", "burglary OR tag:night", "a OR (b kind:video)", "(sort:newest OR x)"],
)
def test_ored_filter(q: str) -> None:
    message = invalid(q)
    assert "cannot be combined with OR" in message
    assert "kind:video kind:audio" in message


def test_too_long() -> None:
    parse_query("a" * MAX_QUERY_CHARS)
    assert "too long" in invalid("a" * (MAX_QUERY_CHARS + 1))


def test_too_many_terms() -> None:
    parse_query(" ".join(["w"] * MAX_TERMS))
    assert "too many terms" in invalid(" ".join(["w"] * (MAX_TERMS + 1)))
    assert "too many terms" in invalid('"' + " ".join(["w"] * (MAX_TERMS + 1)) + '"')
    assert "too many terms" in invalid(" ".join(["w"] * MAX_TERMS) + " tag:x")
    # operators and punctuation are not terms
    parse_query(" AND ".join(["w"] * MAX_TERMS) + " ! ? ()")


def test_too_deep() -> None:
    assert text("(" * 32 + "a" + ")" * 32) == W("a")
    assert "nests" in invalid("(" * 33 + "a")
    assert text("NOT " * 201 + "a") == Not(W("a"))  # NOT chains do not nest


# -- injection attempts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"); DROP TABLE evidence; --', Phrase(("drop", "table", "evidence"))),
        (
            "'; DELETE FROM evidence WHERE 1=1; --",
            And((W("delete"), W("from"), W("evidence"), W("where"), Phrase(("1", "1")))),
        ),
        ("NEAR(a b)", And((W("near"), W("a"), W("b")))),
        ("NEAR(a b, 3)", And((W("near"), W("a"), W("b"), W("3")))),
        ('a"b', And((W("a"), W("b")))),
        ("*", None),
        ("^x", W("x")),
        ("{a b}", And((W("a"), W("b")))),
        ("title : x", And((W("title"), W("x")))),
        ("a + b", And((W("a"), W("b")))),
        ("x AND ^", W("x")),
        ("\x00\x01a\x1fb\x7f", And((W("a"), W("b")))),
        ("a\u200bb", And((W("a"), W("b")))),  # zero-width space separates
        ("%_'", W("_")),
        ('\\"a\\"', W("a")),
    ],
)
def test_injection_attempts_give_plain_words(q: str, expected: Expr | None) -> None:
    assert text(q) == expected


@pytest.mark.parametrize("q", ["title:x OR 1=1", "rowid:1", "evidence_fts:x", "x:y"])
def test_injection_attempts_with_fields_are_refused(q: str) -> None:
    assert "unknown search field" in invalid(q)


def test_filter_values_never_leak_into_the_text() -> None:
    query = parse_query("tag:\"x' OR '1'='1\" case:%")
    assert query.text is None
    assert query.filters.tags == ("x' OR '1'='1",)  # kept as a value: the backend binds it
    assert query.filters.cases == ("%",)


WORD_ONLY = re.compile(r"^\w+$")


@pytest.mark.parametrize(
    "q",
    [
        '"); DROP TABLE evidence; --',
        "NEAR(a b)",
        'a"b',
        "*",
        "^x",
        "{a b}",
        "x:* OR col:a",
        'a* "b* c"^ -(d) e:',
        "\u0000\ud800\uffff",
        "é\u0301 ß ǅ ﬁ",
    ],
)
def test_no_syntax_survives(q: str) -> None:
    try:
        expr = parse_query(q).text
    except Invalid:
        return
    for word in _all_words(expr):
        assert WORD_ONLY.match(word)


def _all_words(expr: Expr | None) -> list[str]:
    if expr is None:
        return []
    if isinstance(expr, Word):
        return [expr.text]
    if isinstance(expr, Phrase):
        return list(expr.words)
    if isinstance(expr, Not):
        return _all_words(expr.item)
    return [w for item in expr.items for w in _all_words(item)]


# -- helpers and result types -------------------------------------------------------------


def test_positive_words() -> None:
    expr = text('knife "red car" -gun (axe OR NOT bat) NOT (club "blue van") knife')
    assert positive_words(expr) == ["knife", "red", "car", "axe"]
    assert positive_words(None) == []


def test_to_text_round_trips() -> None:
    q = 'knife "red car" -gun (axe OR NOT bat) NOT (club OR "blue van") burg*'
    expr = text(q)
    rendered = to_text(expr)
    assert rendered == 'knife "red car" NOT gun (axe OR NOT bat) NOT (club OR "blue van") burg*'
    assert text(rendered) == expr
    assert to_text(None) == ""


def test_simplify() -> None:
    assert simplify(And((And((W("a"), W("b"))), Phrase(("c",))))) == And((W("a"), W("b"), W("c")))
    assert simplify(Not(Not(Or((W("a"),))))) == W("a")
    assert simplify(And(())) is None


def test_result_types() -> None:
    hit = Hit(evidence_id="EV-2026-000001", score=1.5, snippet="a \x02knife\x03")
    assert (hit.source, hit.at_seconds) == ("metadata", None)
    result = SearchResult(hits=[hit], total=1, facets={"kind": [FacetCount("video", 1)]})
    assert result.facets["kind"][0].count == 1
    assert SearchResult(hits=[], total=0).facets == {}
