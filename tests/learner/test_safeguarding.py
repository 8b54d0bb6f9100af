"""The safeguarding screen: the lexicon's hits and its benign look-alikes, normalisation, the judge
(which can only dismiss ambiguous hits), the fixed reply and the school's override of it."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from learner.safeguarding import (
    HELP_PATH,
    Screening,
    check_message,
    decide,
    default_lexicon,
    help_text,
    judge,
    load_lexicon,
    normalise,
    parse_verdict,
    safe_reply,
    screen,
)
from learner.settings import GenerationSettings
from learner.types import TutorReply, TutorRequest
from storage import DataDir
from tests.support.scripted_tutor import ScriptedTutor

SETTINGS = GenerationSettings(temperature=0.0, max_new_tokens=16)


@pytest.mark.parametrize(("text", "category", "pattern"), [
    ("nobody would care if i wasnt here anymore. i want to hurt myself tonight", "self_harm", "en-hurt-myself"),
    ("I want to kill myself", "self_harm", "en-kill-myself"),
    ("i wanna kil myslef", "self_harm", "en-kill-myself"),               # misspellings
    ("I want to k1ll mys3lf", "self_harm", "en-kill-myself"),             # leetspeak inside words
    ("k i l l   m y s e l f", "self_harm", "en-kill-myself"),             # spaced-out letters
    ("I just want to diiiie", "self_harm", "en-want-to-die"),              # stretched letters
    ("I have been thinking about suicide", "self_harm", "en-suicide"),
    ("my friend says she wants to kill herself", "self_harm", "en-friend-at-risk"),
    ("My stepdad hits me when he is drunk", "abuse", "en-hit-me"),
    ("he touches me where he shouldn't", "abuse", "en-touch"),
    ("I'm being bullied every day at school", "bullying", "en-bullied"),
    ("a stranger online asked me to meet him", "danger", "en-danger"),
    ("Me quiero morir", "self_harm", "es-suicidio"),
    ("mi padrastro me pega", "abuse", "es-abuso"),
    ("En el colegio me hacen bullying", "bullying", "es-acoso"),
    ("Je veux mourir", "self_harm", "fr-suicide"),
    ("Mon père me frappe", "abuse", "fr-abus"),
    ("je suis harcelée au collège", "bullying", "fr-harcelement"),
    ("Ich will nicht mehr leben", "self_harm", "de-suizid"),
    ("Mein Vater schlägt mich", "abuse", "de-gewalt"),
    ("Ich werde gemobbt", "bullying", "de-mobbing"),
])
def test_high_risk_messages_are_hits(text: str, category: str, pattern: str) -> None:
    found = screen(text)
    assert found.flagged, normalise(text)
    assert pattern in [h.pattern_id for h in found.hits]
    assert category in [h.category for h in found.hits]


@pytest.mark.parametrize("text", [
    "this homework is killing me",
    "I could kill for a pizza right now",
    "I'm dying to know how this ends",
    "the character killed himself in the book, why?",
    "This cake is to die for",
    "the ball hit me in PE",
    "How do I kill the process in Linux?",
    "What was the suicide rate in Durkheim's study?",
    "je suis mort de rire",
    "me muero de risa",
    "Ich sterbe vor Langeweile",
    "my maths teacher makes me do extra work",
    "I hit my brother's high score",
    "We read about bullying in citizenship class, what is a bystander?",
    "I have 3 apples and 5 pears",
])
def test_benign_look_alikes_are_not_hits(text: str) -> None:
    assert not screen(text).flagged, (normalise(text), screen(text).hits)


def test_normalisation() -> None:
    assert normalise("I'M GONNA   Fail!!!") == "i am going to fail"
    assert normalise("Él está TRISTÉ, niño") == "el esta triste nino"
    assert normalise("k1ll 3 apples") == "kill 3 apples"
    assert normalise("s o  s a d") == "sosad"
    assert normalise("a b pizza") == "a b pizza"   # two single letters are words, not spelling


def test_the_lexicon_is_documented_and_multilingual() -> None:
    lexicon = default_lexicon()
    raw = json.loads(Path(HELP_PATH).with_name("lexicon.json").read_text(encoding="utf-8"))
    assert all({"id", "category", "language", "strength", "pattern", "notes"} <= set(p) for p in raw["patterns"])
    by_language = {lang: [p for p in lexicon.patterns if p.language == lang] for lang in ("en", "es", "fr", "de")}
    assert all(len(found) >= 3 for found in by_language.values())
    assert {p.category for p in lexicon.patterns} == {"self_harm", "abuse", "bullying", "danger"}
    assert len({p.id for p in lexicon.patterns}) == len(lexicon.patterns)


def test_a_bad_lexicon_is_refused_with_the_pattern_named(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.json"
    path.write_text(json.dumps({"patterns": [{"id": "mine", "category": "sadness", "language": "en",
                                              "strength": "explicit", "pattern": "sad"}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="'mine'.*sadness"):
        load_lexicon(path)
    path.write_text(json.dumps({"patterns": [{"id": "broken", "category": "abuse", "language": "en",
                                              "strength": "explicit", "pattern": "(unclosed"}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="'broken'.*regular expression"):
        load_lexicon(path)


@pytest.mark.parametrize(("text", "verdict"), [
    ("Yes.", "yes"), ("yes, the student", "yes"), ("No", "no"), ("no.", "no"), ("Nein", "no"), ("Oui", "yes"),
    ("The main idea is", "unsure"), ("", "unsure"), ("Nobody", "unsure"), ("Yesterday", "unsure"),
])
def test_the_judge_answer_is_read_strictly(text: str, verdict: str) -> None:
    assert parse_verdict(text) == verdict


def test_the_judge_can_only_dismiss_ambiguous_hits() -> None:
    explicit = screen("I want to kill myself")
    ambiguous = screen("nobody would care if i was gone")
    assert explicit.explicit and ambiguous.flagged and not ambiguous.explicit
    for verdict in ("yes", "no", "unsure", "unavailable", None):
        assert decide(explicit, verdict)
        assert decide(ambiguous, verdict) is (verdict != "no")
        assert not decide(Screening(hits=()), verdict)       # the model never flags what the lexicon did not


def test_check_message_asks_the_judge_only_for_ambiguous_hits() -> None:
    tutor = ScriptedTutor([])
    flag = check_message(tutor, "I want to kill myself", SETTINGS)
    assert flag is not None and flag.stage == "lexicon" and flag.judge is None and tutor.completions == []

    # Dismissed only when the model says "no" to "at risk?" and "yes" to the opposite question.
    sure = ScriptedTutor(["No.", "Yes."])
    assert check_message(sure, "I hurt myself playing football", SETTINGS) is None
    risk_question, harmless_question = (c[-1]["content"] for c in sure.completions)
    assert "I hurt myself playing football" in risk_question and "at risk" in risk_question
    assert "harmless" in harmless_question
    says_no_to_everything = ScriptedTutor(["No", "No"])
    flag = check_message(says_no_to_everything, "I hurt myself playing football", SETTINGS)
    assert flag is not None and (flag.stage, flag.judge) == ("judge_unsure", "unsure")

    says_yes = ScriptedTutor(["Yes"])
    flag = check_message(says_yes, "nobody would care if i was gone", SETTINGS)
    assert flag is not None and (flag.stage, flag.judge, flag.category) == ("judge_confirmed", "yes", "self_harm")
    assert len(says_yes.completions) == 1

    rambles = ScriptedTutor(["The main idea is that nobody"])
    assert check_message(rambles, "nobody would care if i was gone", SETTINGS).stage == "judge_unsure"
    assert check_message(None, "nobody would care if i was gone", SETTINGS).stage == "judge_unavailable"
    broken = ScriptedTutor([])   # raises when asked: the hit stands
    assert check_message(broken, "nobody would care if i was gone", SETTINGS).stage == "judge_unavailable"
    assert check_message(ScriptedTutor([]), "What is 3/4 of 12?", SETTINGS) is None


def test_the_judge_runs_on_the_real_tiny_model_and_a_stop_means_unavailable(tiny_loaded) -> None:
    from learner.tutor import Tutor

    tutor = Tutor(tiny_loaded)
    assert judge(tutor, "nobody would care if i was gone", SETTINGS) in ("yes", "no", "unsure")
    stopped = threading.Event()
    stopped.set()
    assert judge(tutor, "nobody would care if i was gone", SETTINGS, stop=stopped) == "unavailable"


def _generated(tutor, request: TutorRequest, settings: GenerationSettings, *, on_text=None, stop=None,
               on_stage=None) -> TutorReply:
    return tutor.reply(request, settings, on_text=on_text, stop=stop)


def test_safe_reply_answers_a_hit_with_the_help_text_and_anything_else_as_usual(data_dir: DataDir) -> None:
    pieces: list[str] = []
    tutor = ScriptedTutor([])
    flagged = safe_reply(tutor, TutorRequest(user_text="my dad beats me", mode="hint"), SETTINGS,
                         reply=_generated, data_dir=data_dir, on_text=pieces.append)
    assert flagged.safeguarding is not None and flagged.safeguarding.category == "abuse"
    assert flagged.text == help_text(data_dir) == HELP_PATH.read_text(encoding="utf-8").strip()
    assert pieces == [flagged.text] and tutor.requests == [] and flagged.messages == ()
    assert "trusted adult" in flagged.text and "116 111" in flagged.text

    tutor = ScriptedTutor(["Three quarters of 12 is 9."])
    plain = safe_reply(tutor, TutorRequest(user_text="What is 3/4 of 12?", mode="explain"), SETTINGS,
                       reply=_generated, data_dir=data_dir)
    assert plain.safeguarding is None and plain.text == "Three quarters of 12 is 9."


def test_a_school_edits_the_help_text_in_its_data_folder(data_dir: DataDir) -> None:
    folder = data_dir.root / "safeguarding"
    folder.mkdir()
    (folder / "help.md").write_text("   \n", encoding="utf-8")
    assert help_text(data_dir) == HELP_PATH.read_text(encoding="utf-8").strip()   # empty: the shipped text
    (folder / "help.md").write_text("Ms Patel (room 4) is here for you. Childline: 0800 1111\n", encoding="utf-8")
    assert help_text(data_dir) == "Ms Patel (room 4) is here for you. Childline: 0800 1111"
    assert help_text(None) == HELP_PATH.read_text(encoding="utf-8").strip()


def test_the_labelled_set_is_large_enough_and_the_lexicon_keeps_its_measured_tuning_figures() -> None:
    rows = [json.loads(line) for line in HELP_PATH.with_name("labelled.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 100 and sum(not r["risk"] for r in rows) >= len(rows) / 2
    assert {r["language"] for r in rows} == {"en", "es", "fr", "de"}
    tuning = [r for r in rows if r["split"] == "tuning"]
    missed = [r["text"] for r in tuning if r["risk"] and not screen(r["text"]).flagged]
    false_alarms = [r["text"] for r in tuning if not r["risk"] and screen(r["text"]).flagged]
    # A lexicon edit must not lose what it was corrected to catch (README: recall 1.000 on this split).
    assert missed == []
    assert len(false_alarms) <= 7, false_alarms
