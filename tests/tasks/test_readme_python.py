"""The README's Python workflow runs as written (with smaller sizes, so that it is quick)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
# (what the README says, what this test runs instead): each must be found in the README,
# so that the test follows the README when it changes.
SMALLER = [
    ("synthetic_sizes=(4000, 1000)", "synthetic_sizes=(160, 40)"),
    ("vocabulary_size=10000", "vocabulary_size=300, embedding_dim=8, hidden_dim=4"),
    ("generate_date_pairs(20000, seed=0)", "generate_date_pairs(96, seed=0)"),
    ("model=\"attention\",", "model=\"attention\", embedding_dim=8, hidden_dim=8,"),
    ("epochs=3", "epochs=1"),
]


def _python_blocks():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Using keras-seq from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_python_workflow_runs(tmp_path, monkeypatch):
    blocks = _python_blocks()
    assert len(blocks) == 2, "the README shows a text task and a generative task"
    code = "\n".join(blocks)
    for said, run in SMALLER:
        assert said in code, f"the README no longer says {said!r}: update this test"
        code = code.replace(said, run)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 (the README's own code)
    for name in ("imdb.kseq", "dates.kseq", "imdb_export/saved_model.pb",
                 "dates_export/saved_model.pb"):
        assert (tmp_path / name).is_file(), name
    assert set(namespace["task"].predict(["july 4, 2026"])) == {"translation"}
