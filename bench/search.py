"""Search benchmark on the embedded default (SQLite FTS5).

Builds a fresh database with the project's own migrations, fills it with generated evidence
(by default 1,000,000 items with realistic metadata and 50,000 transcripts of about 2,000
words), builds the search index through the index adapter (``rebuild_all`` for every item's
metadata, ``add_text`` for each transcript -- what the application itself runs), then times
20 representative queries through the real use case (``services.search.search``: parsing,
access control, filters, ranking, snippets, facets) as an officer (own items), a supervisor
(unit scope) and an evidence custodian (agency-wide). Each text query is also run as a bare
FTS5 ``MATCH`` on the same table in the same run, and the ratio printed.

Prints: generation time, index build time, database size, p50/p95/p99 per query, and last
the overall p95 and whether it meets the 50 ms target.

Usage: python bench/search.py [--items N] [--transcripts M] [--runs R] [--keep DIR]
       (a quick run: --items 100000 --transcripts 5000)

The rows are what the application stores (checked by reading an item back through the
repository); they are written with bulk SQL because going through ingest would take days.
Words come from a built-in vocabulary of about 3,000 forms (common English words and their
inflections, police vocabulary, names and streets) drawn with Zipf frequencies.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from opendems.adapters.db.search_repo import compile_match  # noqa: E402
from opendems.bootstrap import Container, initialise  # noqa: E402
from opendems.config import Settings  # noqa: E402
from opendems.domain.custody import Where  # noqa: E402
from opendems.domain.search import parse_query  # noqa: E402
from opendems.services.accounts import user_principal  # noqa: E402
from opendems.services.context import Actor  # noqa: E402
from opendems.services.search import search  # noqa: E402

TARGET_MS = 50.0
BATCH = 20_000

# -- vocabulary ------------------------------------------------------------------------------

COMMON = """
the be to of and a in that have i it for not on with he as you do at this but his by from they we say
her she or an will my one all would there their what so up out if about who get which go me when make
can like time no just him know take people into year your good some could them see other than then now
look only come its over think also back after use two how our work first well way even new want because
any these give day most us is was are were been has had did said went got made came saw told asked
here where why yes okay right left front side door car truck street road house home room floor window
wall stairs kitchen hallway yard parking lot corner block light red blue black white gray green silver
dark night morning afternoon evening minute minutes hour hours second seconds today yesterday tonight
man woman male female person guy kid child children boy girl mother father brother sister friend family
neighbor driver passenger witness victim suspect subject officer deputy sergeant detective dispatcher
unit partner backup medic ambulance fire engine hospital jail station court judge lawyer attorney
phone call called calling number text message video camera footage picture photo report statement
hand hands arm arms head face eyes hair shirt jacket hoodie jeans shoes hat mask bag backpack wallet
money cash card keys license registration insurance plate plates tag vehicle sedan suv van pickup
motorcycle bike bicycle bus taxi alley sidewalk crosswalk intersection highway freeway exit ramp lane
stop stopped stopping traffic speed speeding ticket citation warning arrest arrested arresting custody
cuffs handcuffs search searched searching pat weapon weapons gun guns knife knives firearm pistol rifle
shot shots fired shooting bullet casing blood injury injured hurt pain bleeding breathing conscious
drunk alcohol beer bottle drugs marijuana pills needle smell odor field sobriety test breath sample
theft stolen steal stealing burglary burglar robbery robbed assault assaulted battery domestic fight
fighting argument yelling screaming threat threatened threatening harassment trespass trespassing
vandalism damage damaged broken broke window glass crowbar tool tools lock locked unlocked open opened
closed store shop market gas station bank restaurant bar club school park church hotel motel apartment
building office warehouse garage fence gate roof basement parking garage mall pharmacy
run ran running walk walked walking drive drove driving leave left leaving stay stayed stand standing
sit sitting lay lying get out hands up show me let see calm down relax listen understand sorry please
thank thanks sir maam yeah nope maybe probably really actually never always again still already
something nothing anything everything someone nobody anyone everybody somewhere nowhere anywhere
big small little old young tall short heavy thin fast slow loud quiet hot cold wet dry clean dirty
happen happened happening tell telling talk talked talking remember remembered forget forgot mean
need needed try tried trying help helped helping move moved moving wait waiting waited hold holding
turn turned turning put putting bring brought keep kept find found follow followed check checked
""".split()  # noqa: SIM905

POLICE = """
incident dispatch responded responding response scene secured perimeter canvass canvassed evidence
collected bagged tagged photographed documented interview interviewed miranda rights advised consent
refused complied noncompliant resisting resisted detained detention released cited booked transported
probable cause warrant warrants outstanding felony misdemeanor violation ordinance complaint complainant
reporting party caller anonymous description matching fled fleeing pursuit foot chase perimeter k9
bodycam dashcam recording activated deactivated collision crash accident hit run airbag tow towed
impound impounded inventory contraband paraphernalia narcotics fentanyl methamphetamine cocaine heroin
overdose narcan naloxone cpr ems transported stable critical deceased coroner homicide suicide welfare
check wellness missing runaway juvenile adult elderly disturbance noise party loud music fireworks
shoplifting shoplifter merchandise receipt security guard surveillance cctv alarm activation entry
forced pry marks footprint fingerprint dna swab latent print property owner landlord tenant eviction
restraining order protective violation custody exchange dui dwi intoxicated impaired refusal
""".split()  # noqa: SIM905

SURNAMES = """
smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez
wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark
ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green adams
nelson baker hall rivera campbell mitchell carter roberts kowalski novak okafor mensah haddad nakamura
tanaka schmidt muller rossi bianchi dubois lefebvre jansen devries kaur singh patel khan ali ahmed
murphy obrien kelly sullivan walsh byrne ryan oconnor doyle brennan fischer weber wagner becker
hoffman schulz koch richter klein wolf neumann schwarz zimmermann braun kruger hofmann hartmann lange
""".split()  # noqa: SIM905

FIRST_NAMES = """
james mary john patricia robert jennifer michael linda william elizabeth david barbara richard susan
joseph jessica thomas sarah charles karen christopher nancy daniel lisa matthew betty anthony margaret
mark sandra donald ashley steven kimberly paul emily andrew donna joshua michelle kenneth carol kevin
amanda brian melissa george deborah timothy stephanie ronald rebecca jason sharon edward laura jeffrey
cynthia ryan kathleen jacob amy gary angela nicholas shirley eric anna jonathan brenda stephen pamela
maria jose luis carlos juan ana sofia mohammed fatima wei ming aisha kwame olga ivan piotr anna
""".split()  # noqa: SIM905

STREETS = """
elm oak maple pine cedar birch walnut chestnut spruce willow main church market high park lake river
hill forest meadow spring sunset lincoln washington jefferson madison monroe jackson franklin grant
adams kennedy roosevelt wilson harrison cleveland mckinley lafayette broadway central union liberty
mill water bridge station railroad canal harbor bay ocean beach prairie valley ridge summit highland
""".split()  # noqa: SIM905

STREET_KINDS = ["St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Ct", "Pl", "Way"]
INCIDENTS = [
    "Traffic stop",
    "Domestic disturbance",
    "Burglary",
    "Shoplifting",
    "Suspicious person",
    "Welfare check",
    "Vehicle collision",
    "Assault",
    "Noise complaint",
    "DUI investigation",
    "Theft report",
    "Shots fired",
    "Foot pursuit",
    "Trespass",
    "Alarm activation",
    "Robbery",
    "Vandalism",
    "Missing person",
    "Overdose",
    "Warrant service",
]
CATEGORIES = [
    "Traffic stop",
    "Domestic",
    "Burglary",
    "Theft",
    "Assault",
    "Robbery",
    "DUI",
    "Narcotics",
    "Collision",
    "Homicide",
    "Missing person",
    "Vandalism",
    "Trespass",
    "Welfare",
    "Other",
]
TAGS = [
    "night",
    "day",
    "use-of-force",
    "arrest",
    "juvenile",
    "k9",
    "pursuit",
    "injury",
    "weapon",
    "interview",
    "witness",
    "victim",
    "suspect",
    "evidence-photo",
    "scene",
    "follow-up",
    "review",
    "training",
    "complaint",
    "court",
    "dui",
    "narcotics",
    "vehicle",
    "residence",
    "business",
    "school",
    "park",
    "highway",
    "rain",
    "snow",
    "taser",
    "spanish",
    "interpreter",
    "body-worn",
    "dash",
    "cctv",
    "911",
    "felony",
    "misdemeanor",
    "priority",
]
UNITS = [
    "north",
    "south",
    "east",
    "west",
    "central",
    "harbor",
    "airport",
    "traffic",
    "detectives",
    "narcotics",
    "k9",
    "patrol-night",
]
KINDS = [("video", 0.55), ("image", 0.25), ("audio", 0.08), ("document", 0.10), ("other", 0.02)]
STATES = [("ready", 0.95), ("processing", 0.02), ("failed", 0.01), ("on_hold", 0.02)]
CENTRE = (41.8781, -87.6298)  # the generated agency's city
START = datetime(2023, 6, 1, tzinfo=UTC)
SPAN_S = 3 * 365 * 86400


def inflections(word: str) -> list[str]:
    if len(word) < 4 or not word.isalpha():
        return [word]
    out = [word, word + "s"]
    if word.endswith("e"):
        out += [word + "d", word[:-1] + "ing"]
    else:
        out += [word + "ed", word + "ing"]
    return out


def vocabulary() -> list[str]:
    """About 3,000 word forms, most frequent first (for a Zipf draw)."""
    words: list[str] = []
    seen: set[str] = set()

    def add(w: str) -> None:
        if w not in seen:
            seen.add(w)
            words.append(w)

    for w in COMMON:
        add(w)
    for w in POLICE:
        add(w)
    for w in COMMON[150:] + POLICE:
        for form in inflections(w)[1:]:
            add(form)
    for w in FIRST_NAMES + SURNAMES + STREETS:
        add(w)
    return words


class Zipf:
    """Draws words with frequency proportional to 1 / rank ** s."""

    def __init__(self, words: list[str], rng: random.Random, s: float = 1.07) -> None:
        self.words = words
        self.rng = rng
        self.cum = list(itertools.accumulate(1.0 / (r**s) for r in range(1, len(words) + 1)))

    def draw(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum, k=k)


# -- generation -------------------------------------------------------------------------------


def when(dt: datetime) -> str:
    """A datetime as SQLAlchemy stores it on SQLite (naive UTC, microseconds)."""
    return dt.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    x = rng.random()
    for value, weight in weighted:
        x -= weight
        if x <= 0:
            return value
    return weighted[-1][0]


@dataclass
class People:
    officers: list[tuple[int, str, str]]  # (user id, username, unit)
    supervisor: str
    custodian: str


def make_people(conn: Any, rng: random.Random, now: datetime) -> People:
    rows: list[tuple[Any, ...]] = []
    officers = []
    base = int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM users").scalar()) + 1
    for n in range(600):
        uid = base + n
        name = f"{rng.choice(FIRST_NAMES)[0]}.{rng.choice(SURNAMES)}{n:03d}"
        unit = UNITS[n % len(UNITS)]
        officers.append((uid, name, unit))
        rows.append((uid, name, name.title(), "officer", 0, 0, "active", when(now), unit, "local", 0))
    supervisor: tuple[str, str, str | None] = ("bench.supervisor", "supervisor", officers[0][2])
    custodian: tuple[str, str, str | None] = ("bench.custodian", "evidence_custodian", None)
    for n, (login, role, home) in enumerate((supervisor, custodian)):
        rows.append((base + 600 + n, login, login, role, 0, 0, "active", when(now), home, "local", 0))
    conn.exec_driver_sql(
        "INSERT INTO users (id, username, display_name, role, must_change_password, is_builtin, status,"
        " created_at, unit, auth_source, failed_logins) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return People(officers, supervisor[0], custodian[0])


def make_cases(conn: Any, rng: random.Random, people: People, count: int) -> list[tuple[str, str]]:
    """(case number, unit) of ``count`` cases, a few restricted or sealed."""
    rows = []
    out = []
    for n in range(count):
        uid, _, unit = rng.choice(people.officers)
        opened = START + timedelta(seconds=rng.randrange(SPAN_S))
        number = f"{opened.year}-{n + 1:05d}"
        level = "sealed" if rng.random() < 0.002 else "restricted" if rng.random() < 0.01 else "normal"
        title = f"{rng.choice(INCIDENTS)} {rng.choice(STREETS).title()} {rng.choice(STREET_KINDS)}"
        rows.append(
            (number, title, f"CAD-{rng.randrange(10**6):06d}", "", "open", when(opened), uid, level, unit)
        )
        out.append((number, unit))
    conn.exec_driver_sql(
        "INSERT INTO cases (number, title, incident_number, description, status, created_at, created_by,"
        " restriction, unit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return out


def make_items(
    conn: Any, rng: random.Random, zipf: Zipf, people: People, cases: list[tuple[str, str]], count: int
) -> tuple[list[tuple[str, float]], int]:
    """Insert ``count`` items with originals, tags and case links; return the ids of the items a
    transcript fits (video and audio, with their durations) and the number of the last one."""
    times = sorted(START + timedelta(seconds=rng.randrange(SPAN_S)) for _ in range(count))
    cases_of_unit: dict[str, list[str]] = {}
    for number, unit in cases:
        cases_of_unit.setdefault(unit, []).append(number)
    numbers: dict[int, int] = {}
    speakable: list[tuple[str, float]] = []
    batch_e: list[tuple[Any, ...]] = []
    batch_o: list[tuple[Any, ...]] = []
    batch_t: list[tuple[str, str]] = []
    batch_c: list[tuple[Any, ...]] = []

    def flush() -> None:
        conn.exec_driver_sql(
            "INSERT INTO evidence (id, kind, title, description, captured_at, captured_by, device_make,"
            " device_model, device_serial, latitude, longitude, category, custom_fields, restriction,"
            " status, created_at, created_by, updated_at, unit, media)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batch_e,
        )
        conn.exec_driver_sql(
            "INSERT INTO originals (evidence_id, sha256, size, mime_type, filename, blob_key, stored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            batch_o,
        )
        conn.exec_driver_sql("INSERT INTO evidence_tags (evidence_id, tag) VALUES (?, ?)", batch_t)
        conn.exec_driver_sql(
            "INSERT INTO case_evidence (case_number, evidence_id, added_at, added_by) VALUES (?, ?, ?, ?)",
            batch_c,
        )
        for b in (batch_e, batch_o, batch_t, batch_c):
            b.clear()

    for captured in times:
        created = captured + timedelta(seconds=rng.randrange(60, 72 * 3600))
        numbers[created.year] = numbers.get(created.year, 0) + 1
        eid = f"EV-{created.year}-{numbers[created.year]:06d}"
        who = rng.randrange(len(people.officers))
        uid, officer, unit = people.officers[who]
        kind = pick(rng, KINDS)
        incident = rng.choice(INCIDENTS)
        street = f"{rng.choice(STREETS).title()} {rng.choice(STREET_KINDS)}"
        day = captured.strftime("%Y-%m-%d")
        stamp = captured.strftime("%Y-%m-%d_%H%M")
        media: dict[str, Any] | None = None
        make = model = serial = None
        duration = 0.0
        if kind == "video":
            prefix = "BWC" if rng.random() < 0.8 else "Dashcam"
            make, model = ("Axon", "Body 3") if prefix == "BWC" else ("WatchGuard", "4RE")
            serial = f"{'BWC' if prefix == 'BWC' else 'DC'}-{who:04d}"
            duration = rng.uniform(60, 3600)
            media = {
                "container": "mp4",
                "duration_s": round(duration, 2),
                "device_make": make,
                "device_model": model,
                "streams": [{"codec": "h264", "width": 1920, "height": 1080}, {"codec": "aac"}],
            }
            mime, filename = "video/mp4", f"{make}_{model.replace(' ', '_')}_Video_{stamp}.mp4"
        elif kind == "audio":
            prefix = "Interview audio"
            duration = rng.uniform(120, 5400)
            media = {"container": "mp3", "duration_s": round(duration, 2), "streams": [{"codec": "mp3"}]}
            mime, filename = "audio/mpeg", f"interview_{stamp}.mp3"
        elif kind == "image":
            prefix = "Photo"
            make, model = rng.choice(
                [("Canon", "EOS 90D"), ("Apple", "iPhone 14"), ("Samsung", "Galaxy S23")]
            )
            media = {"container": "jpeg", "device_make": make, "device_model": model, "width": 4032}
            mime, filename = "image/jpeg", f"IMG_{rng.randrange(10000):04d}.jpg"
        elif kind == "document":
            prefix = "Report"
            mime, filename = "application/pdf", f"report_{stamp}.pdf"
        else:
            prefix = "File"
            mime, filename = "application/octet-stream", f"export_{stamp}.bin"
        title = f"{prefix} {day} {incident} {street}"
        description = " ".join(zipf.draw(rng.randint(6, 24))).capitalize() + "."
        located = rng.random() < 0.5
        lat = CENTRE[0] + rng.gauss(0, 0.08) if located else None
        lon = CENTRE[1] + rng.gauss(0, 0.1) if located else None
        custom = (
            {
                "cad": f"CAD-{rng.randrange(10**6):06d}",
                "incident_type": incident,
                "beat": str(rng.randrange(100)),
            }
            if rng.random() < 0.4
            else {}
        )
        level = "sealed" if rng.random() < 0.003 else "restricted" if rng.random() < 0.015 else "normal"
        state = pick(rng, STATES)
        batch_e.append(
            (
                eid,
                kind,
                title[:200],
                description,
                when(captured),
                officer,
                make,
                model,
                serial,
                lat,
                lon,
                rng.choice(CATEGORIES) if rng.random() < 0.9 else None,
                json.dumps(custom),
                level,
                state,
                when(created),
                uid,
                None,
                unit,
                json.dumps(media) if media is not None else None,
            )
        )
        digest = hashlib.sha256(eid.encode()).hexdigest()
        batch_o.append(
            (eid, digest, rng.randrange(10_000, 2_000_000_000), mime, filename, digest, when(created))
        )
        for tag in rng.sample(TAGS, rng.choice((0, 1, 1, 2, 2, 3))):
            batch_t.append((eid, tag))
        if rng.random() < 0.3 and cases_of_unit.get(unit):
            batch_c.append((rng.choice(cases_of_unit[unit]), eid, when(created), uid))
        if kind in ("video", "audio") and state == "ready":
            speakable.append((eid, duration))
        if len(batch_e) >= BATCH:
            flush()
    if batch_e:
        flush()
    for year, last in numbers.items():
        conn.exec_driver_sql(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (f"evidence-{year}", last),
        )
    return speakable, len(times)


def transcript(rng: random.Random, zipf: Zipf, duration: float, words: int = 2000) -> list[tuple[float, str]]:
    """About ``words`` words in sentences, each with the second it starts at."""
    drawn = zipf.draw(words)
    segments: list[tuple[float, str]] = []
    at = 0
    step = max(duration, 1.0) / words
    while at < words:
        n = rng.randint(6, 18)
        segments.append((round(at * step, 2), " ".join(drawn[at : at + n])))
        at += n
    return segments


# -- measuring ---------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49], q[94], q[98]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm the page cache and the statement cache
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


@dataclass
class Query:
    label: str
    text: str
    who: str  # officer | supervisor | custodian
    facets: bool = False


QUERIES = [
    Query("word", "burglary", "custodian"),
    Query("frequent word", "vehicle", "custodian"),
    Query("two words", "suspect vehicle", "custodian"),
    Query("phrase (title)", '"traffic stop"', "custodian"),
    Query("phrase (speech)", '"hands up"', "custodian"),
    Query("prefix", "burg*", "custodian"),
    Query("boolean OR / NOT", "(knife OR gun) -training", "custodian"),
    Query("boolean AND NOT", "assault AND NOT domestic", "custodian"),
    Query("rare name", "kowalski", "custodian"),
    Query("text + facets", "crowbar", "custodian", facets=True),
    Query("filters only, by date", 'kind:video category:"Traffic stop"', "custodian"),
    Query("text + filters", "collision tag:night kind:video", "custodian"),
    Query("filters + facets", "captured:2025-01-01..2025-12-31 state:ready", "custodian", facets=True),
    Query("geo near", "near:41.88,-87.63,2km", "custodian"),
    Query("geo bbox + text", "bbox:41.85,-87.70,41.90,-87.60 shots", "custodian"),
    Query("date range + text", "captured:2024-03-01..2024-03-31 theft", "custodian"),
    Query("text, newest first", "vehicle sort:newest", "custodian"),
    Query("officer: text", "vehicle", "officer"),
    Query("officer: filters + facets", "kind:video sort:newest", "officer", facets=True),
    Query("supervisor (unit): phrase + facets", '"traffic stop"', "supervisor", facets=True),
]


def bare_fts(conn: Any, text: str) -> Callable[[], object] | None:
    """The same words as one bare FTS5 MATCH on the same table (no access control, no
    filters, no join), best 25 by rank -- the floor a search cannot go below."""
    match, excluded = compile_match(parse_query(text).text)
    if match is None:
        return None
    expression = f"({match}) NOT ({' OR '.join(excluded)})" if excluded else match
    sql = "SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rank LIMIT 25"
    return lambda: conn.exec_driver_sql(sql, (expression,)).all()


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--transcripts", type=int, default=50_000)
    parser.add_argument("--words", type=int, default=2000, help="words per transcript")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", type=Path, help="build the database in this folder and keep it")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: time the queries on the database an earlier run built there",
    )
    args = parser.parse_args()
    if args.reuse and args.keep is None:
        parser.error("--reuse needs --keep DIR (the folder an earlier run built)")

    root = args.keep or Path(tempfile.mkdtemp(prefix="opendems-search-bench-"))
    data = root / "data"
    saved = root / "people.json"
    if args.reuse:
        if not saved.exists():
            parser.error(f"--reuse: no database built in {root} (run once with --keep {root})")
        queries(
            Container(Settings(data_dir=data, workers=0, meaning_search=False)),
            json.loads(saved.read_text()),
            args.runs,
        )
        return
    if data.exists():
        shutil.rmtree(data)
    rng = random.Random(args.seed)
    zipf = Zipf(vocabulary(), rng)
    print(
        f"Search benchmark: {args.items:,} items, {args.transcripts:,} transcripts of ~{args.words:,} words"
    )
    print(f"Vocabulary: {len(zipf.words):,} word forms (Zipf); database in {data}")
    try:
        # The full-text index alone (embedding a million items would take hours on a laptop;
        # bench/enrich_embed.py measures the embedder).
        c = Container(Settings(data_dir=data, workers=0, meaning_search=False))
        initialise(c)
        db = Path(c.engine.url.database or "")
        now = datetime.now(UTC)

        # 1. generate the rows, as the application stores them
        start = time.perf_counter()
        with c.engine.begin() as conn:
            people = make_people(conn, rng, now)
            cases = make_cases(conn, rng, people, max(10, args.items // 50))
            speakable, count = make_items(conn, rng, zipf, people, cases, args.items)
        generation = time.perf_counter() - start
        print(f"Generated {count:,} items and {len(cases):,} cases in {generation:.1f} s")
        with c.uow() as uow:  # the repository reads the rows back like any it wrote
            sample = uow.evidence.get(speakable[0][0])
            assert sample is not None and sample.original is not None and sample.captured_at is not None

        # 2. the index: every item's metadata, then the transcripts, through the adapter
        start = time.perf_counter()
        with c.uow() as uow:
            indexed = uow.search.rebuild_all()
            uow.commit()
        metadata_s = time.perf_counter() - start
        print(f"Index of metadata (rebuild_all, {indexed:,} items): {metadata_s:.1f} s")
        chosen = rng.sample(speakable, min(args.transcripts, len(speakable)))
        words_s = index_s = 0.0
        for n in range(0, len(chosen), 500):
            made = []
            t0 = time.perf_counter()
            for eid, duration in chosen[n : n + 500]:
                made.append((eid, transcript(rng, zipf, duration, args.words)))
            t1 = time.perf_counter()
            with c.uow() as uow:
                for eid, segments in made:
                    uow.search.add_text(eid, "transcript", segments)
                uow.commit()
            t2 = time.perf_counter()
            words_s += t1 - t0
            index_s += t2 - t1
        start = time.perf_counter()
        with c.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
        optimize_s = time.perf_counter() - start
        c.engine.dispose()  # every pooled connection closed: the write-ahead log folds into the file
        raw = c.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        print(
            f"Transcripts: {len(chosen):,} generated in {words_s:.1f} s, indexed (add_text) in {index_s:.1f} s,"
            f" optimize {optimize_s:.1f} s"
        )
        print(f"Generation time: {generation + words_s:.1f} s")
        print(f"Index build time: {metadata_s + index_s + optimize_s:.1f} s")
        print(f"Database size: {file_size(db) / 2**20:,.0f} MiB")

        # 3. the queries
        actors = {
            "officer": people.officers[0][1],  # as many items as any other officer, statistically
            "supervisor": people.supervisor,
            "custodian": people.custodian,
        }
        saved.write_text(json.dumps(actors))
        queries(c, actors, args.runs)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def queries(c: Container, actors: dict[str, str], runs: int) -> None:
    """Time every query as its principal and print the table and the overall p95."""
    principals = {k: Actor(user_principal(c.uow(), v, "cli"), Where(service="cli", endpoint="bench"))
                  for k, v in actors.items()}  # fmt: skip
    print()
    head = f"{'query':<36} {'as':<10} {'hits':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'FTS p50':>8} {'ratio':>6}"
    print(head)
    print("-" * len(head))
    every: list[float] = []
    with c.engine.connect() as raw:
        for q in QUERIES:
            who = principals[q.who]

            def run(q: Query = q, who: Actor = who) -> object:
                return search(
                    who, q.text, None, limit=25, offset=0, facets=q.facets, uow=c.uow(), clock=c.clock
                )

            result = run()
            samples = timed(run, runs)
            every.extend(samples)
            p50, p95, p99 = percentiles(samples)
            bare = bare_fts(raw, q.text)
            ratio = fts = ""
            if bare is not None:
                f50 = percentiles(timed(bare, runs))[0]
                fts, ratio = f"{f50:8.2f}", f"{p50 / f50:6.1f}" if f50 > 0 else ""
            total = getattr(result, "total", 0)
            label = q.label + ("" if q.text in q.label else f": {q.text}")
            print(
                f"{label[:36]:<36} {q.who:<10} {total:>9,} {p50:8.1f} {p95:8.1f} {p99:8.1f} {fts:>8} {ratio:>6}"
            )
    overall = percentiles(every)[1]
    verdict = "meets" if overall < TARGET_MS else "does NOT meet"
    print()
    print(f"Overall p95 {overall:.1f} ms over {len(every)} searches: {verdict} the {TARGET_MS:.0f} ms target")


if __name__ == "__main__":
    main()
