"""Reading practice items and verdicts from real-looking (and badly formed) model replies."""
from __future__ import annotations

import pytest

from learner.practice import PracticeFormatError, parse_item, parse_judgement

GOOD_OUTPUTS = [
    # (name, model reply, expected question, expected key, expected difficulty)
    ("plain lines", "Topic: Fractions\nDifficulty: easy\nQuestion: What is 1/4 + 2/4?\nAnswer key: 3/4",
     "What is 1/4 + 2/4?", "3/4", "easy"),
    ("chatter around", "Sure! Here is a practice question for you:\n\nQuestion: What is 3/4 + 1/8?\n"
     "Answer key: 7/8\n\nHope this helps! Let me know if you want another.", "What is 3/4 + 1/8?", "7/8", "medium"),
    ("markdown bold", "**Topic:** Fractions\n**Difficulty:** Hard\n**Question:** Simplify 6/8.\n**Answer Key:** 3/4",
     "Simplify 6/8.", "3/4", "hard"),
    ("heading and numbering", "### Practice\n1. Question: Which gas do plants take in for photosynthesis?\n"
     "2. Answer: Carbon dioxide", "Which gas do plants take in for photosynthesis?", "Carbon dioxide", "medium"),
    ("json in a fence", '```json\n{"topic": "Algebra", "difficulty": "medium", "question": "Solve 2x + 3 = 7.", '
     '"answer_key": "x = 2"}\n```', "Solve 2x + 3 = 7.", "x = 2", "medium"),
    ("json, other key names", 'Here you go: {"Problem": "What is 12 x 11?", "Solution": 132, "Level": "easy"}',
     "What is 12 x 11?", "132", "easy"),
    ("lines in a fence", "```\nQuestion: Name the capital of France.\nAnswer key: Paris\n```",
     "Name the capital of France.", "Paris", "medium"),
    ("question over two lines", "Question: A train leaves at 9:15 and arrives at 11:05.\nHow long is the journey?\n"
     "Answer key: 1 hour 50 minutes", "A train leaves at 9:15 and arrives at 11:05.\nHow long is the journey?",
     "1 hour 50 minutes", "medium"),
    ("answer inline", "Question: What is 9 x 7? Answer: 63", "What is 9 x 7?", "63", "medium"),
    ("key on the next line", "Question: What is the past tense of 'run'?\nAnswer key:\nran",
     "What is the past tense of 'run'?", "ran", "medium"),
    ("numeric difficulty and dash", "Difficulty - 5\nQuestion - Factorise x^2 - 9.\nAnswer key - (x - 3)(x + 3)",
     "Factorise x^2 - 9.", "(x - 3)(x + 3)", "hard"),
    ("quoted values", 'Question: "What is 10% of 50?"\nAnswer key: "5"', "What is 10% of 50?", "5", "medium"),
]


@pytest.mark.parametrize("name,text,question,key,difficulty", GOOD_OUTPUTS, ids=[g[0] for g in GOOD_OUTPUTS])
def test_parse_item_reads_variants(name, text, question, key, difficulty):
    item = parse_item(text, topic="Requested topic", difficulty="medium")
    assert item.question == question
    assert item.answer_key == key
    assert item.difficulty == difficulty
    assert item.topic == "Requested topic"   # the student's topic wins over the model's wording


BAD_OUTPUTS = [
    ("empty", "", "empty"),
    ("whitespace", "  \n\n ", "empty"),
    ("no key", "Question: What is 3/4 + 1/8?\nThink about common denominators!", "answer key"),
    ("key empty", "Question: What is 3/4 + 1/8?\nAnswer key:   \n", "answer key"),
    ("only an explanation", "Fractions are parts of a whole. The numerator is on top.", "Question"),
    ("only a key", "Answer key: 7/8", "Question"),
    ("placeholders copied", "Question: <the practice question>\nAnswer key: <the correct answer>", "placeholders"),
    ("too short", "Question: 2+2\nAnswer key: 4", "too short"),
    ("key repeats question", "Question: What is photosynthesis?\nAnswer key: What is photosynthesis?", "repeats"),
    ("broken json", '{"question": "What is 2+2?", "answer": }', "answer key"),
    ("random tokens", "ĠĠ the the 0123 ``` ((( ;;", "Question"),
]


@pytest.mark.parametrize("name,text,says", BAD_OUTPUTS, ids=[b[0] for b in BAD_OUTPUTS])
def test_parse_item_refuses_malformed(name, text, says):
    with pytest.raises(PracticeFormatError, match=says):
        parse_item(text, topic="Fractions")


JUDGEMENTS = [
    ("labelled", "Verdict: partly correct\nFeedback: You added 1/4 and 2/4 but wrote 3/8.", "partly",
     "You added 1/4 and 2/4 but wrote 3/8."),
    ("bold labels", "**Verdict:** Incorrect\n**Feedback:** 5/8 is not right: the pieces are quarters.", "incorrect",
     "5/8 is not right: the pieces are quarters."),
    ("not correct", "Verdict: not correct\nFeedback: Your 12 should be 21.", "incorrect", "Your 12 should be 21."),
    ("correct with 'no'", "Verdict: Correct. No mistakes.\nFeedback: 3/4 is right.", "correct", "3/4 is right."),
    ("json", '```json\n{"verdict": "partially correct", "feedback": "Right idea, wrong sign."}\n```', "partly",
     "Right idea, wrong sign."),
    ("no labels", "Correct! Your answer 7/8 is exactly right.", "correct", "Your answer 7/8 is exactly right."),
    ("feedback over two lines", "Verdict: incorrect\nFeedback: You wrote Lyon.\nThe capital is another city.",
     "incorrect", "You wrote Lyon.\nThe capital is another city."),
]


@pytest.mark.parametrize("name,text,verdict,feedback", JUDGEMENTS, ids=[j[0] for j in JUDGEMENTS])
def test_parse_judgement(name, text, verdict, feedback):
    judgement = parse_judgement(text)
    assert (judgement.verdict, judgement.feedback) == (verdict, feedback)


@pytest.mark.parametrize("text,says", [
    ("", "empty"),
    ("Feedback: good try", "no verdict"),
    ("The student seems to understand fractions.", "no verdict"),
    ("Verdict: correct", "no feedback"),
])
def test_parse_judgement_refuses(text, says):
    with pytest.raises(PracticeFormatError, match=says):
        parse_judgement(text)
