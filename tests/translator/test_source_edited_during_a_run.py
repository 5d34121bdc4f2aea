"""A run whose library source is edited while it trains still exports (AutoGraph is off there).

AutoGraph reads a function's source from its file when it first converts it. The export is
traced after `fit`, so with AutoGraph on, a line added to the installed source during a long
run (an edit, a `git pull` into an editable install) made it convert the wrong function and
the run ended in a traceback at its export (it happened to a 40-minute fra-eng run).
"""

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = '''
import importlib.util, pathlib, keras, keras_seq
spec = importlib.util.spec_from_file_location("translator", "{app}")
translator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(translator)
source = pathlib.Path(keras_seq.__file__).parent / "data" / "sequence_tokenizer.py"

def edit(logs=None):  # one line added near the top: every function below it moves down
    lines = source.read_text().split("\\n")
    source.write_text("\\n".join(lines[:20] + ["# added while the run trains"] + lines[20:]))

args = translator.build_parser().parse_args([
    "--quick", "--epochs", "1", "--train-size", "300", "--validation-size", "50",
    "--test-size", "50", "--runs-root", "{runs}", "--verbose", "0"])
metrics = translator.run(args, extra_callbacks=[keras.callbacks.LambdaCallback(
    on_train_end=edit)])
print("EXPORT AGREES", metrics["export_matches_in_process_decoding"])
'''


def test_export_survives_an_edit_of_the_library_source_during_training(tmp_path):
    shutil.copytree(ROOT / "keras_seq", tmp_path / "keras_seq",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(app=ROOT / "applications" / "translator.py",
                                    runs=tmp_path / "runs"))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path),
                                                          "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "EXPORT AGREES True" in done.stdout
    assert "# added while the run trains" in (
        tmp_path / "keras_seq" / "data" / "sequence_tokenizer.py").read_text()
