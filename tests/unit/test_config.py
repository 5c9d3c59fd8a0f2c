"""The typed configuration: shipped files load, bad keys and types are named, overrides parse."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from qcrd.config import ConfigError, RunConfig, dump_config, load_config, parse_override

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    return path


def test_configs_folder_is_not_empty() -> None:
    assert CONFIGS, "configs/*.yaml found nothing: the test below would check nothing"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_starts_with_a_header_naming_its_command(path: Path) -> None:
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert header, f"{path.name} has no header comment saying what it is for"
    assert any("qcrd " in line and path.name in line for line in header), (
        f"{path.name}'s header does not show the command that runs it"
    )


def test_all_defaults_make_a_valid_config() -> None:
    assert load_config(None) == RunConfig()


def test_resolved_config_is_frozen() -> None:
    cfg = load_config(None)
    with pytest.raises(ValidationError):
        cfg.train.lr = 1.0  # type: ignore[misc]


# --- unknown keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "dotted"),
    [
        ("bogus: 1\n", "bogus"),
        ("train:\n  lrr: 1.0\n", "train.lrr"),
        ("train:\n  qcrd:\n    betaa: 0.2\n", "train.qcrd.betaa"),
        ("data:\n  jsonl:\n    foo: x\n", "data.jsonl.foo"),
    ],
)
def test_unknown_yaml_key_is_rejected_by_its_dotted_name(
    tmp_path: Path, yaml_text: str, dotted: str
) -> None:
    with pytest.raises(ConfigError, match=rf"{dotted}: unknown key"):
        load_config(_write(tmp_path, yaml_text))


@pytest.mark.parametrize(
    ("override", "dotted"),
    [
        ("trian.lr=1.0", "trian"),
        ("train.lrr=1.0", "train.lrr"),
        ("train.qcrd.betaa=0.2", "train.qcrd.betaa"),
    ],
)
def test_unknown_override_key_is_rejected_by_its_dotted_name(override: str, dotted: str) -> None:
    with pytest.raises(ConfigError, match=rf"{dotted}: unknown key"):
        load_config(None, [override])


# --- wrong types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "dotted"),
    [
        ("train.lr=abc", "train.lr"),
        ("train.batch_size=2.5", "train.batch_size"),
        ("teacher.num_samples=true", "teacher.num_samples"),  # a bool is not an int
        ("data.max_train=1e3", "data.max_train"),  # a float is not an int, even a whole one
        ("train.method=bogus", "train.method"),
        ("train.lr=", "train.lr"),
    ],
)
def test_override_of_the_wrong_type_is_rejected_by_its_key(override: str, dotted: str) -> None:
    with pytest.raises(ConfigError, match=rf"{dotted}: "):
        load_config(None, [override])


def test_quoted_number_in_yaml_is_a_string_and_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, 'train:\n  batch_size: "8"\n')
    with pytest.raises(ConfigError, match=r"train\.batch_size: .*integer.*'8'"):
        load_config(path)


def test_value_where_a_section_belongs_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train: "):
        load_config(_write(tmp_path, "train: 3\n"))
    path = _write(tmp_path, "train:\n  lr: 1.0e-3\n")
    with pytest.raises(ConfigError, match=r"train\.lr\.x: 'lr' is a value, not a section"):
        load_config(path, ["train.lr.x=3"])
    with pytest.raises(ConfigError, match=r"train\.lr: .*number"):  # no YAML value to clash with
        load_config(None, ["train.lr.x=3"])


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(_write(tmp_path, "- 1\n- 2\n"))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


# --- override parsing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("train.lr=3e-5", "train.lr", 3e-5),  # YAML 1.1 alone would read a string here
        ("train.lr=1.0e5", "train.lr", 1.0e5),
        ("train.lr=-2E-3", "train.lr", -2e-3),
        ("data.max_train=64", "data.max_train", 64),
        ("student.name=tiny-t5", "student.name", "tiny-t5"),
        ("train.max_steps=null", "train.max_steps", None),
        ("train.qcrd.negatives=false", "train.qcrd.negatives", False),
        ("run_dir=/tmp/run.e5", "run_dir", "/tmp/run.e5"),  # a path stays a path
        (" train.seed = 3", "train.seed", 3),
    ],
)
def test_parse_override_reads_the_value_as_yaml(text: str, key: str, value: object) -> None:
    parsed = parse_override(text)
    assert parsed == (key, value)
    assert type(parsed[1]) is type(value)


@pytest.mark.parametrize("text", ["lr", "=3", "train.lr"])
def test_malformed_override_is_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        parse_override(text)


def test_overrides_reach_nested_fields_and_keep_the_yaml_rest(tmp_path: Path) -> None:
    path = _write(tmp_path, "train:\n  lr: 1e-3\n  batch_size: 4\n")  # 1e-3: a float here too
    cfg = load_config(
        path, ["train.lr=3e-5", "data.max_train=64", "student.name=tiny-t5", "train.qcrd.beta=0.5"]
    )
    assert cfg.train.lr == pytest.approx(3e-5)
    assert isinstance(cfg.train.lr, float)
    assert cfg.train.batch_size == 4
    assert cfg.data.max_train == 64
    assert cfg.student.name == "tiny-t5"
    assert cfg.train.qcrd.beta == 0.5
    assert load_config(path).train.lr == pytest.approx(1e-3)


def test_later_override_wins() -> None:
    assert load_config(None, ["train.seed=1", "train.seed=2"]).train.seed == 2


# --- validators -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.source=jsonl"], r"data\.jsonl\.train must name a file"),
        (["data.source=hub", "teacher.backend=replay"], r"teacher\.backend 'replay' needs"),
        (
            ["teacher.retry_backoff_s=5", "teacher.retry_backoff_max_s=1"],
            r"teacher\.retry_backoff_max_s \(1\.0\) is below teacher\.retry_backoff_s",
        ),
        (["train.lr=0"], r"train\.lr: .*greater than 0"),
        (["train.batch_size=0"], r"train\.batch_size: .*greater than or equal to 1"),
        (["data.valid_fraction=1.0"], r"data\.valid_fraction: .*less than 1"),
    ],
)
def test_bad_combinations_and_ranges_are_rejected(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config(None, overrides)
    # A validator's message is enough: the whole input section is not dumped after it.
    assert "{" not in str(err.value)


def test_valid_combinations_pass() -> None:
    cfg = load_config(None, ["data.source=hub", "teacher.backend=openai"])
    assert cfg.data.source == "hub"
    cfg = load_config(None, ["data.source=jsonl", "data.jsonl.train=/tmp/train.jsonl"])
    assert cfg.data.jsonl.train == "/tmp/train.jsonl"


# --- round trip -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [None, *CONFIGS], ids=lambda p: "defaults" if p is None else p.name
)
def test_resolved_config_round_trips_through_dump(tmp_path: Path, path: Path | None) -> None:
    cfg = load_config(path, ["train.lr=3e-5", "data.max_train=7"])
    dumped = dump_config(cfg)
    again = load_config(_write(tmp_path, dumped))
    assert again == cfg
    assert dump_config(again) == dumped
    # Every default is spelled out, down to nested sections.
    assert "negative_lag:" in dumped
    assert "api_key_env:" in dumped
