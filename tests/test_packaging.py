"""A built wheel carries what the app reads at run time (prompt files, the replay set, the SQL
migrations), so `pip install tutorloop-*.whl` on a school's machine works without the source tree."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from learner.replay import load_replay

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import json, sys
from pathlib import Path
import learner.prompts as prompts, learner.replay as replay, storage.migrations as migrations
from storage import Database
site = Path(sys.argv[1]).resolve()
db = Database(site.parent / "check.db")           # every migration, read from the wheel
print(json.dumps({
    "prompts": str(prompts.PROMPTS_DIR.resolve()), "system": prompts.system_prompt(grade="grade 7"),
    "replay": len(replay.load_replay()), "migrations": str(Path(migrations.__file__).resolve()),
    "tables": sorted(r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")),
}))
"""


def test_a_built_wheel_runs_outside_the_source_tree(tmp_path: Path) -> None:
    # Build from a copy: setuptools writes build/ and *.egg-info into the folder it builds.
    source = tmp_path / "source"
    for name in ("app", "learner", "storage", "assets"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("tutorloop-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)                      # what pip install puts in site-packages

    # PYTHONPATH comes before the editable install's finder, so these imports come from the wheel.
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    ran = subprocess.run([sys.executable, "-c", CHECK, str(site)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    found = json.loads(ran.stdout)
    assert found["prompts"].startswith(str(site.resolve())) and found["migrations"].startswith(str(site.resolve()))
    assert "grade 7" in found["system"]
    assert found["replay"] == len(load_replay()) > 0      # the whole replay set
    assert {"messages", "training_examples", "adapters"} <= set(found["tables"])
