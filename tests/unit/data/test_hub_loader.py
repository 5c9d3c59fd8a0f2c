"""The Hub source: row conversion on real ``datasets.Dataset`` objects, and the offline error."""

from __future__ import annotations

import datasets
import huggingface_hub.constants
import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from qcrd.config import DataConfig
from qcrd.data import DataError, load_hub
from qcrd.data.hub import HUB_DEFAULTS, convert_rows, hub_id
from qcrd.data.records import BadRows
from qcrd.tasks import get_task

NLI_FEATURES = Features(
    {
        "uid": Value("string"),
        "premise": Value("string"),
        "hypothesis": Value("string"),
        # -1 is allowed by the Hub data (SNLI's "no gold label"), not a ClassLabel index.
        "label": Value("int64"),
    }
)


def test_anli_rows() -> None:
    rows = Dataset.from_dict(
        {
            "uid": ["a1", "a2", "a3", "a4"],
            "premise": ["A cat sat on a mat.", "", "Rain fell.", "Sun."],
            "hypothesis": ["An animal sat.", "x", "It was dry.", "Moon."],
            "label": [0, 1, 2, -1],
        },
        features=NLI_FEATURES,
    )
    bad = BadRows()
    examples = convert_rows(get_task("anli1"), rows, "train", bad, "facebook/anli")
    assert [(e.id, e.label) for e in examples] == [("a1", "entailment"), ("a3", "contradiction")]
    assert examples[0].input == "premise: A cat sat on a mat.\nhypothesis: An animal sat."
    assert dict(bad.counts) == {"empty premise": 1, "no gold label": 1}
    assert bad.examples["no gold label"] == "facebook/anli[train][3]"


def test_esnli_rows_get_positional_ids() -> None:
    rows = Dataset.from_dict(
        {
            "premise": ["Two dogs run.", "A man sleeps."],
            "hypothesis": ["Animals move.", "A man runs."],
            "label": [0, 2],
            "explanation_1": ["Dogs are animals.", "Sleeping is not running."],
        },
        features=Features(
            {
                "premise": Value("string"),
                "hypothesis": Value("string"),
                "label": ClassLabel(names=["entailment", "neutral", "contradiction"]),
                "explanation_1": Value("string"),
            }
        ),
    )
    examples = convert_rows(get_task("esnli"), rows, "test", BadRows(), "esnli")
    assert [(e.id, e.label) for e in examples] == [
        ("test-0", "entailment"),
        ("test-1", "contradiction"),
    ]


def test_cos_e_rows() -> None:
    rows = Dataset.from_dict(
        {
            "id": ["q1", "q2", "q3", "q4"],
            "question": ["Where do fish live?", "Where?", "What?", "Who?"],
            "choices": [
                ["tree", "water", "desk", "sky", "car"],
                ["a", "b", "c", "d", "e"],
                ["only one"],
                ["x", "y", "z", "w", "v"],
            ],
            "answer": ["water", "f", "only one", "Y"],
            "abstractive_explanation": ["", "", "", ""],
        },
        features=Features(
            {
                "id": Value("string"),
                "question": Value("string"),
                "choices": Sequence(Value("string")),
                "answer": Value("string"),
                "abstractive_explanation": Value("string"),
            }
        ),
    )
    bad = BadRows()
    examples = convert_rows(get_task("cqa"), rows, "test", bad, "Salesforce/cos_e")
    assert [(e.id, e.label) for e in examples] == [("q1", "water"), ("q4", "y")]
    assert examples[0].choices == ("tree", "water", "desk", "sky", "car")
    assert examples[0].input.startswith("Where do fish live?\nAnswer Choices:\n(a) tree\n")
    assert dict(bad.counts) == {"unparseable label": 1, "malformed choices": 1}


def test_svamp_rows() -> None:
    rows = Dataset.from_dict(
        {
            "ID": ["chal-1", "chal-2", "chal-3"],
            "Body": [
                "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars",
                "Dan had $ 3 left.",
                "Empty equation",
            ],
            "Question": ["How much do you have to pay?", "How much did it cost?", "Why?"],
            "Equation": ["( 76.0 - 25.0 )", "( 4.0 - 3.0", ""],
            "Answer": [51.0, 1.0, 0.0],
        }
    )
    bad = BadRows()
    examples = convert_rows(get_task("svamp"), rows, "train", bad, "ChilleD/SVAMP")
    assert [(e.id, e.label) for e in examples] == [("chal-1", "( 76.0 - 25.0 )")]
    assert examples[0].input.endswith("25 dollars\nHow much do you have to pay?")
    assert dict(bad.counts) == {"unparseable label": 1, "missing label": 1}


def test_hub_id_override() -> None:
    assert hub_id(DataConfig(task="cqa")) == HUB_DEFAULTS["cqa"]
    assert hub_id(DataConfig(task="cqa", hub_name="me/cos_e:v1.0")) == ("me/cos_e", "v1.0")
    assert hub_id(DataConfig(task="svamp", hub_name="me/svamp")) == ("me/svamp", None)


def test_offline_error_says_how_to_use_local_files(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real load_dataset, in offline mode, for a data set that cannot be in any cache.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    cfg = DataConfig(task="anli1", source="hub", hub_name="qcrd-tests/no-such-dataset")
    with pytest.raises(DataError) as info:
        load_hub(cfg)
    message = str(info.value)
    assert "qcrd-tests/no-such-dataset" in message
    assert "data.source=dss|mcckd|jsonl" in message
    assert "data.root" in message
    assert "QCRD_DATA_ROOT" in message
