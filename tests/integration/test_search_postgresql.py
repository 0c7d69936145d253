"""The search index on PostgreSQL: the SQLite index's own tests, run unchanged against
``PostgresSearchIndex`` (each data directory a test makes gets a fresh database), the
checks that read the index's storage rewritten for its table, and what is PostgreSQL's own:
stop words, ids, injection into tsquery syntax, highlighting, the migration.

Needs a PostgreSQL server: the scale-out test stack's when it runs, else a private one this
test session starts (``postgres_admin_url``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, text

from opendems.adapters.db.migrate import alembic_config, include_name, upgrade
from opendems.adapters.db.search_pg import compile_query
from opendems.config import ENV_FILE
from opendems.domain.access import Role, visibility
from opendems.domain.errors import Invalid
from opendems.domain.search import And, Not, Or, Phrase, SearchFilters, SearchQuery, Word
from opendems.services import evidence as ev_svc
from opendems.services import search as search_svc
from tests.factories import admin
from tests.integration import test_search_access as access
from tests.integration import test_search_index as index
from tests.integration.test_search_index import World, edit, ingest, transcript


def _url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


class Databases:
    """Fresh databases, dropped when the scope that made them ends."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.names: list[str] = []

    def new(self) -> str:
        name = f"t_search_{secrets.token_hex(6)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.names.append(name)
        return _url(self.admin_url, name)

    def on_new_database(self, root: Path) -> Path:
        """``root`` with a data directory whose settings name a fresh database (the file
        every container and ``opendems`` process reads them from)."""
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        (data / ENV_FILE).write_text(f"OPENDEMS_DATABASE_URL={self.new()}\n")
        return root

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.names.clear()


class OnPostgres:
    """``tmp_path_factory`` whose every directory comes with a fresh database (``tmp_path``
    too, which pytest makes with it)."""

    def __init__(self, factory: pytest.TempPathFactory, databases: Databases) -> None:
        self._factory, self._databases = factory, databases

    def mktemp(self, basename: str, numbered: bool = True) -> Path:
        return self._databases.on_new_database(self._factory.mktemp(basename, numbered))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory, name)


@pytest.fixture(scope="module")
def tmp_path_factory(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> Iterator[OnPostgres]:
    """Each world of the imported tests and each test's own directory on its own database
    (dropped with the module)."""
    databases = Databases(postgres_admin_url)
    yield OnPostgres(tmp_path_factory, databases)
    databases.drop()


def _same(module: Any, *names: str) -> dict[str, Any]:
    """These tests of a module, to be run as they are (as a class's static methods)."""
    return {name: staticmethod(getattr(module, name)) for name in names}


class TestIndex:
    """``test_search_index``'s tests, unchanged, with its fixtures (but the two that read the
    FTS5 table: ``TestPostgres`` has them for this index's table)."""

    @pytest.fixture(scope="module")
    @classmethod
    def world(cls, tmp_path_factory: pytest.TempPathFactory) -> World:
        return index.world.__wrapped__(tmp_path_factory)  # type: ignore[attr-defined,no-any-return]

    @pytest.fixture
    def fresh(self, tmp_path: Path) -> World:
        return index.fresh.__wrapped__(tmp_path)  # type: ignore[attr-defined,no-any-return]

    locals().update(
        _same(
            index,
            "test_a_title_match_outranks_a_description_match_and_stems",
            "test_phrase_against_words",
            "test_prefix_diacritics_and_case",
            "test_boolean_operators",
            "test_the_index_reads_the_query_tree",
            "test_metadata_fields_are_searchable",
            "test_injection_looking_words_are_searched_literally",
            "test_snippets_mark_the_matched_words",
            "test_a_transcript_hit_returns_where_to_jump",
            "test_a_hit_in_metadata_and_transcript_counts_once",
            "test_the_words_of_a_query_may_be_split_between_metadata_and_speech",
            "test_a_match_only_in_the_metadata_does_not_claim_a_moment",
            "test_a_broad_match_is_counted_as_a_lower_bound",
            "test_excluded_words_drop_items_whichever_document_holds_them",
            "test_every_filter",
            "test_several_values_of_one_field_are_either",
            "test_geography",
            "test_sort_orders",
            "test_paging_keeps_the_total",
            "test_facets_count_exactly_the_matching_set",
            "test_the_index_follows_every_committed_change",
            "test_a_hit_deep_in_a_window_jumps_to_its_own_segment",
            "test_nothing_reaches_the_index_without_a_commit",
            "test_reindex_needs_a_permission",
            "test_bad_queries_are_refused_clearly",
            "test_rebuild_all_reproduces_the_results",
        )
    )

    def test_it_runs_on_postgresql(self, world: World, fresh: World) -> None:
        assert world.c.engine.dialect.name == fresh.c.engine.dialect.name == "postgresql"
        assert world.c.engine.url.database != fresh.c.engine.url.database
        with world.c.uow() as uow:
            assert type(uow.search).__name__ == "PostgresSearchIndex"

    def test_an_excluded_word_drops_items_of_a_narrow_scope_too(self, world: World) -> None:
        assert world.names("officer:olga") == ["title"]
        assert world.names("officer:olga -bakery") == []
        assert world.names("case:K-100 -bakery") == ["doc"]


class TestAccess:
    """``test_search_access``, unchanged, with its world."""

    @pytest.fixture(scope="module")
    @classmethod
    def world(cls, tmp_path_factory: pytest.TempPathFactory) -> Any:
        return access.world.__wrapped__(tmp_path_factory)  # type: ignore[attr-defined]

    locals().update(
        _same(
            access,
            "test_every_default_role_is_covered",
            "test_search_shows_only_what_the_policy_allows",
            "test_facets_of_a_narrowed_search_stay_inside_the_scope",
            "test_a_broad_search_cut_short_still_shows_only_what_is_allowed",
        )
    )


def _count(c: Any, where: str, **params: Any) -> int:
    with c.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM search_docs WHERE {where}"), params).scalar_one())


class TestPostgres:
    """The tests of ``test_search_index`` that read the FTS5 table, rewritten for the
    PostgreSQL table; and what is PostgreSQL's own."""

    @pytest.fixture
    def fresh(self, tmp_path: Path) -> World:
        return index.fresh.__wrapped__(tmp_path)  # type: ignore[attr-defined,no-any-return]

    def test_editing_an_item_updates_the_words_its_windows_carry(self, fresh: World) -> None:
        w, c = fresh, fresh.c
        item = ingest(c, w.olga, "x", title="Parked van")
        with c.uow() as uow:  # a long text: 2,000 words in 20 windows
            uow.search.add_text(item, "ocr", [(None, f"line {n} about the weather") for n in range(400)])
            uow.commit()
        transcript(c, item, [(2.0, "the suspect dropped a crowbar")])
        assert w.find("van crowbar").total == 1
        edit(c, item, title="Moved lorry")
        ev_svc.change_tags(w.olga, item, add=["harbour"], uow=c.uow(), clock=c.clock, limits=c.limits)
        assert w.find("van crowbar").total == 0
        [hit] = w.find("lorry crowbar").hits
        assert hit.at_seconds == 2.0
        assert w.find("harbour crowbar").total == 1
        assert w.find("lorry weather").hits[0].source == "ocr"
        # every window was rewritten, none duplicated: the metadata, 20 windows of text, 1 of speech
        lorry = "document @@ to_tsquery('opendems', 'lorry') AND title = 'Moved lorry'"
        assert _count(c, lorry) == 22
        assert _count(c, "document @@ to_tsquery('opendems', 'van')") == 0
        assert _count(c, "evidence_id = :e AND keywords LIKE '%harbour%'", e=item) == 22

    def test_rebuild_all_repairs_a_damaged_index(self, fresh: World) -> None:
        w, c = fresh, fresh.c
        item = ingest(c, w.olga, "x", title="Broken lamp")
        with c.engine.begin() as conn:  # lose the item's document behind the application's back
            conn.execute(text("DELETE FROM search_docs"))
            conn.execute(
                text(
                    "INSERT INTO search_docs (evidence_id, source, title, document)"
                    " VALUES ('EV-1999-000001', 'metadata', 'lamp', to_tsvector('simple', 'lamp'))"
                )
            )
        assert w.find("lamp").total == 0  # (the document of an item that does not exist: none)
        assert search_svc.reindex(admin(c), uow=c.uow(), clock=c.clock) == 1
        assert [h.evidence_id for h in w.find("lamp").hits] == [item]
        assert _count(c, "evidence_id = 'EV-1999-000001'") == 0

    def test_stop_words_ids_and_names_are_found(self, fresh: World) -> None:
        w, c = fresh, fresh.c
        will = ingest(
            c, w.olga, "will", title="The will of the people", captured_by="Will", device_serial="BWC-0042"
        )
        other = ingest(c, w.olga, "other", title="Bakery at dawn")
        assert {h.evidence_id for h in w.find("the").hits} == {will}  # a stop word alone still matches
        assert [h.evidence_id for h in w.find("will").hits] == [will]
        assert [h.evidence_id for h in w.find('"of the people"').hits] == [will]
        assert [h.evidence_id for h in w.find("the bakery").hits] == []  # both words, as on SQLite
        assert [h.evidence_id for h in w.find("at bakery").hits] == [other]
        for q in (will, will.lower(), will.split("-")[-1], "bwc-0042", "BWC 0042", "bwc*", "0042"):
            assert [h.evidence_id for h in w.find(q).hits] == [will], q
        [hit] = w.find(will).hits
        assert "\x02" in hit.snippet

    def test_highlights_keep_the_text_as_written(self, fresh: World) -> None:
        w, c = fresh, fresh.c
        tags = ingest(c, w.olga, "tags", title="<b>Bold</b> & bakery", description="x<y and a>b at café")
        ingest(c, w.olga, "file", title="Report", filename="witness-statement.png")
        [hit] = w.find("bakery").hits
        assert hit.evidence_id == tags and hit.snippet == "<b>Bold</b> & \x02bakery\x03"
        [hit] = w.find("cafe").hits
        assert hit.snippet == "x<y and a>b at \x02café\x03"
        [hit] = w.find("witness").hits
        assert "\x02witness\x03-statement.png" in hit.snippet
        long = ingest(
            c, w.olga, "long", title="Long", description=" ".join(f"w{n}" for n in range(40)) + " zebra"
        )
        [hit] = w.find("zebra").hits
        assert (
            hit.evidence_id == long and hit.snippet.startswith("…") and hit.snippet.endswith("\x02zebra\x03")
        )
        assert len(hit.snippet.split()) == 12

    def test_a_phrase_jumps_to_where_it_stands_whole(self, fresh: World) -> None:
        w, c = fresh, fresh.c
        item = ingest(c, w.olga, "talk", title="Statement")
        transcript(c, item, [(3.0, "the interview began"), (20.0, "and the interview ended abruptly")])
        [hit] = w.find('"interview ended"').hits
        assert hit.at_seconds == 20.0
        [hit] = w.find("interview").hits
        assert hit.at_seconds == 3.0  # the first place the word is said

    def test_query_syntax_never_reaches_postgresql(self, fresh: World) -> None:
        w, c = fresh, fresh.c
        item = ingest(c, w.olga, "x", title="Plain words here")
        for q in [
            "plain & !words",
            "plain | ' ) ( :* <-> <2>",
            "'plain':* & words:A",
            "\\'; SELECT pg_sleep(10); --",
            "plain:*",
            "!!plain",
            "'' words",
        ]:
            try:
                result = w.find(q)
            except Invalid:  # (a field the parser does not know)
                continue
            assert all(h.evidence_id == item for h in result.hits), q
        scope = visibility(w.cora.principal)
        hostile = [
            Word("plain' | 'x"),
            Word("a:*b", prefix=True),
            Word("'\\'"),
            Phrase(("plain", "words')")),
            Or((Word("&"), Not(Word("|")))),
            And((Word("<->"), Word("plain"))),
        ]
        for expr in hostile:
            with c.uow().for_reading() as uow:
                uow.search.search(SearchQuery(expr, SearchFilters()), scope, limit=10, offset=0, facets=True)
        with c.engine.connect() as conn:
            compiled = compile_query(conn, Word("plain' | 'x"))
        assert compiled.match == "('plain' <-> 'x')"  # the words, as a phrase: nothing else
        assert [h.evidence_id for h in w.find("plain").hits] == [item]

    def test_a_query_of_nothing_postgresql_can_read_is_no_text(self, fresh: World) -> None:
        w, c = fresh, fresh.c
        item = ingest(c, w.olga, "x", title="Something")
        scope = visibility(w.cora.principal)
        with c.engine.connect() as conn:
            assert compile_query(conn, Word("_")).match is None  # a word PostgreSQL's parser skips
            assert compile_query(conn, And((Word("_"), Word("something")))).match is not None
        with c.uow().for_reading() as uow:
            result = uow.search.search(
                SearchQuery(Word("_"), SearchFilters()), scope, limit=10, offset=0, facets=False
            )
        assert [h.evidence_id for h in result.hits] == [item]

    def test_an_unchanged_item_keeps_its_documents(self, fresh: World) -> None:
        w, c = fresh, fresh.c
        item = ingest(c, w.olga, "x", title="Steady")
        with c.engine.connect() as conn:
            before = conn.execute(
                text("SELECT id FROM search_docs WHERE evidence_id = :e"), {"e": item}
            ).all()
        with c.uow() as uow:  # a change that is no word of the index: nothing is rewritten
            uow.evidence.update_fields(item, {"status": "failed"}, c.clock.now())
            uow.commit()
        with c.engine.connect() as conn:
            after = conn.execute(text("SELECT id FROM search_docs WHERE evidence_id = :e"), {"e": item}).all()
        assert before == after and len(after) == 1
        assert w.find("state:failed steady").total == 1


def _drop(admin_url: str, url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        name = sql.Identifier(url.rsplit("/", 1)[1])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def test_the_migrations_match_the_tables_on_postgresql(postgres_admin_url: str) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from opendems.adapters.db.tables import metadata

    url = Databases(postgres_admin_url).new()
    engine = create_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": include_name})
            assert compare_metadata(context, metadata) == []
            assert conn.execute(text("SELECT count(*) FROM search_docs")).scalar_one() == 0
        cfg = alembic_config(url)
        with engine.connect() as conn:  # down to the release before and up again
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006")
            assert conn.execute(text("SELECT to_regclass('search_docs')")).scalar() is None
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('search_docs')")).scalar() == "search_docs"
    finally:
        engine.dispose()
        _drop(postgres_admin_url, url)


def test_the_migration_indexes_the_items_already_held(tmp_path: Path, postgres_admin_url: str) -> None:
    """A database of release 0006 (items, no PostgreSQL index) gets its items indexed by the
    upgrade."""
    from tests.factories import make_container, user_actor

    url = Databases(postgres_admin_url).new()
    c = make_container(tmp_path / "old", database_url=url)
    try:
        olga = user_actor(c, "olga", Role.OFFICER)
        cora = user_actor(c, "cora", Role.CUSTODIAN)
        item = ingest(c, olga, "x", title="Harbour crane")
        with c.engine.begin() as conn:  # back to how release 0006 left the database
            conn.execute(text("DROP TABLE search_vectors"))  # release 0011's
            for table in ("zip_crcs", "exports", "share_visits", "share_copies", "share_objects", "shares"):
                conn.execute(text(f"DROP TABLE {table}"))  # release 0010's
            conn.execute(text("DROP TABLE redaction_plans"))  # release 0008's
            conn.execute(text("ALTER TABLE jobs DROP COLUMN started_at"))  # release 0009's
            conn.execute(text("DROP TABLE search_docs"))
            conn.execute(text("DROP TEXT SEARCH CONFIGURATION opendems"))
            conn.execute(text("DROP TEXT SEARCH DICTIONARY opendems_english_stem"))
            conn.execute(text("UPDATE alembic_version SET version_num = '0006'"))
        upgrade(c.engine)
        found = search_svc.search(
            cora, "crane", None, limit=10, offset=0, facets=False, uow=c.uow(), clock=c.clock
        )
        assert [h.evidence_id for h in found.hits] == [item]
    finally:
        c.engine.dispose()
        _drop(postgres_admin_url, url)
