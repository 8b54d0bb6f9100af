"""Property-based fuzzing (Hypothesis) of what hostile input reaches: the import parsers, profile
names, export paths and the settings files. 1,000 generated cases a run in all; the properties are
"no traceback" (only the documented errors) and "no partial write" (all or nothing on disk and in
the database). In CI (CI=true) the cases are derived from the test names, so a run is repeatable."""
from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learner.adapt.recipe import Recipe
from learner.settings import GenerationSettings, load_generation_settings
from storage import Database, StorageError, ValidationError, auth, exchange, users
from storage.names import MAX_NAME_CHARS, clean_name, name_key
from storage.safe_write import write_text_file
from tests.support.classroom import FAST, PASSWORD


def fuzz(examples: int):
    return settings(max_examples=examples, deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.filter_too_much, HealthCheck.data_too_large])


# Any code point, lone surrogates, controls and bidi overrides included.
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=40)
NASTY = st.sampled_from(["", " ", "\n", "\u202e", "\u200b", "\ufeff", "\x00", "\ud800", "\udfff", "É", "e\u0301",
                         "ｅ", "ß", "İ", "𝔸", "\u2028", "🙂", "'", '"', "\\", "|EOM|", "Teacher:", "Student:"])
TEXT = st.one_of(ANY_TEXT, NASTY, st.lists(NASTY | ANY_TEXT, max_size=6).map("".join))
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSON = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12)
ROLE = st.sampled_from(["user", "assistant", "system", "tool", "User", ""]) | JSON_LEAF
MESSAGE = st.fixed_dictionaries({"role": ROLE, "content": TEXT | JSON}, optional={"name": TEXT})
METADATA = st.fixed_dictionaries({}, optional={"mode": st.sampled_from(["explain", "hint", "practice"]) | JSON,
                                               "topic": TEXT | JSON, "grade": TEXT | JSON,
                                               "uid": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}") | JSON})
RECORD = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=5) | JSON}, optional={"metadata": METADATA | JSON}),
    st.fixed_dictionaries({"prompt": TEXT | st.lists(MESSAGE, max_size=4) | JSON,
                           "completion": TEXT | st.lists(MESSAGE, max_size=2) | JSON},
                          optional={"metadata": METADATA | JSON}),
    st.fixed_dictionaries({"conversation": st.lists(st.tuples(st.sampled_from(["Teacher: ", "Student: ", "", "x"]),
                                                              st.sampled_from(["", "(focus)", "(telling)", "(x)"]),
                                                              TEXT), max_size=5)
                           .map(lambda turns: "|EOM|".join(a + b + c for a, b, c in turns)) | JSON},
                          optional={"question": TEXT | JSON, "student_incorrect_solution": TEXT | JSON,
                                    "qid": JSON, "student_profile": TEXT | JSON}),
    JSON,
)


def line_of(value: object, depth: int) -> bytes:
    text = json.dumps(value)                         # ASCII: lone surrogates travel as \ud800 escapes
    return ("[" * depth + text + "]" * depth).encode()


LINE = st.one_of(
    st.builds(line_of, RECORD, st.sampled_from([0, 0, 0, 1, 999, 5000])),
    st.binary(max_size=80),
    st.sampled_from([b'{"n": ' + b"9" * 5000 + b"}", b"\xef\xbb\xbf{}", b"\xff\xfe", b"{" * 3000, b'"\\ud800"']),
)
FORMAT = st.sampled_from(["messages", "prompt-completion", "mathdial"])


# -- import parsers ---------------------------------------------------------------------------------

@fuzz(350)
@given(lines=st.lists(LINE, max_size=5), fmt=FORMAT)
def test_parsing_any_file_reports_problems_and_never_raises(lines: list[bytes], fmt: str) -> None:
    data = b"\n".join(lines)
    candidates, problems = exchange.parse_jsonl(data, fmt, source_name="fuzz.jsonl",  # type: ignore[arg-type]
                                                system_for=lambda mode, grade, topic: f"Tutor {mode} {grade} {topic}")
    for cand in candidates:                           # what parses is storable as it is
        for text in [cand.completion, cand.topic, cand.grade, *(m["content"] for m in cand.prompt)]:
            text.encode("utf-8")
        assert cand.prompt[-1]["role"] == "user"
    assert all(1 <= p.line <= data.count(b"\n") + 1 for p in problems)


@fuzz(100)
@given(lines=st.lists(LINE, min_size=1, max_size=4), fmt=FORMAT, partial=st.booleans())
def test_an_import_is_all_or_nothing(tmp_path: Path, lines: list[bytes], fmt: str, partial: bool) -> None:
    with Database(tmp_path / "fuzz.db") as db:
        teacher = users.find_user(db, "Ms Lee") or auth.create_teacher(db, None, "Ms Lee", PASSWORD, params=FAST)
        before = db.query("SELECT COUNT(*) AS n FROM imported_exchanges")[0]["n"]
        path = tmp_path / "import.jsonl"
        path.write_bytes(b"\n".join(lines))
        try:
            report = exchange.import_file(db, teacher, path, fmt=fmt, partial=partial)  # type: ignore[arg-type]
        except ValidationError:
            assert db.query("SELECT COUNT(*) AS n FROM imported_exchanges")[0]["n"] == before
        else:
            assert db.query("SELECT COUNT(*) AS n FROM imported_exchanges")[0]["n"] == before + report.imported


# -- names ------------------------------------------------------------------------------------------

@fuzz(200)
@given(raw=TEXT | st.text(ANY_CHAR, max_size=120))
def test_a_name_is_clean_or_refused(raw: str) -> None:
    try:
        name = clean_name(raw)
    except ValidationError as refused:
        assert "\n" not in str(refused)
        return
    assert 0 < len(name) <= MAX_NAME_CHARS and name == name.strip()
    name.encode("utf-8")
    assert clean_name(name) == name and name_key(name) == name_key(clean_name(raw))
    assert name_key(name.upper()) == name_key(name.lower()) or name.upper() != name.upper().casefold().upper()


@fuzz(100)
@given(names=st.lists(TEXT, min_size=1, max_size=3))
def test_profiles_never_share_a_caseless_name(tmp_path: Path, names: list[str]) -> None:
    with Database(tmp_path / "names.db") as db:
        for raw in names:
            try:
                users.create_user(db, raw)
            except ValidationError:
                pass
        keys = [r["name_key"] for r in db.query("SELECT name_key FROM users")]
        assert len(keys) == len(set(keys)) and None not in keys


# -- export paths -----------------------------------------------------------------------------------

PIECE = st.sampled_from(["d", "..", ".", "link", "pipe", "old.txt", "new.jsonl", "", "missing", "dirlink", "a" * 300])
PATH = st.one_of(st.lists(PIECE | st.text(ANY_CHAR, min_size=1, max_size=8), min_size=1, max_size=4),
                 st.just(["/dev/full"]), st.just([]))


@fuzz(150)
@given(pieces=PATH, text=TEXT, trailing=st.booleans())
def test_an_export_writes_a_whole_regular_file_or_nothing(pieces: list[str], text: str, trailing: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outside = Path(tmp) / "outside"
        outside.mkdir()
        victim = outside / "victim.txt"
        victim.write_text("precious")
        sandbox = Path(tmp) / "a" / "b" / "sandbox"
        (sandbox / "d").mkdir(parents=True)
        (sandbox / "old.txt").write_text("old")
        (sandbox / "link").symlink_to(victim)
        (sandbox / "dirlink").symlink_to(outside, target_is_directory=True)
        os.mkfifo(sandbox / "pipe")
        if pieces == ["/dev/full"]:
            target = "/dev/full"
        else:
            target = os.path.join(str(sandbox), *[p.replace("\x00", "") for p in pieces[:4]]) if pieces else ""
            target += "/" if trailing and target else ""
        try:
            written = write_text_file(target, lambda out: out.write(text))
        except (ValidationError, StorageError) as refused:
            assert "\n" not in str(refused)
        else:
            assert stat.S_ISREG(os.lstat(written).st_mode) and written.read_bytes() == text.encode("utf-8")
        assert victim.read_text() == "precious"
        assert stat.S_ISFIFO(os.lstat(sandbox / "pipe").st_mode) and (sandbox / "link").is_symlink()
        assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)
        leftovers = [p for p in Path(tmp).rglob("*") if p.name.endswith(".partial")]
        assert leftovers == []


# -- settings files ---------------------------------------------------------------------------------

@fuzz(50)
@given(stored=st.one_of(
    st.builds(json.dumps, JSON),
    st.builds(json.dumps, st.fixed_dictionaries({}, optional={
        "model_spec": JSON, "device": JSON, "dtype": JSON, "max_new_tokens": JSON, "temperature": JSON})),
    TEXT))
def test_saved_generation_settings_are_used_or_replaced_by_defaults(tmp_path: Path, stored: str) -> None:
    with Database(tmp_path / "settings.db") as db:
        try:
            stored.encode("utf-8")
        except UnicodeEncodeError:
            return                                    # SQLite cannot hold it, so no database can contain it
        with db.transaction() as t:
            t.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('generation', ?)", [stored])
        loaded, problem = load_generation_settings(db)
        assert isinstance(loaded, GenerationSettings)
        assert problem is None or loaded == GenerationSettings()


@fuzz(50)
@given(content=st.one_of(st.builds(json.dumps, JSON), st.builds(json.dumps, st.dictionaries(
    st.sampled_from(["rank", "alpha", "epochs", "target_modules", "learning_rate", "keep_versions", "seed", "x"]),
    JSON, max_size=3)), st.binary(max_size=40)))
def test_a_recipe_file_is_read_or_refused_with_a_value_error(tmp_path: Path, content: str | bytes) -> None:
    path = tmp_path / "recipe.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    try:
        Recipe.load(path)
    except ValueError as refused:
        assert str(refused)


def test_the_suite_runs_a_thousand_cases() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    budgets = [int(n) for n in __import__("re").findall(r"^@fuzz\((\d+)\)", source, flags=__import__("re").M)]
    assert sum(budgets) == 1000, budgets
