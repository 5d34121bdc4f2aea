"""The task harness: every task goes through raw-input fit / predict / save / load / export.

`run_task_test` is to tasks what `tests/layer_harness.py` is to layers (and keras-hub's
`run_task_test` to its tasks):

1. `fit` one epoch on raw inputs (strings in, the task's preprocessor in `tf.data`);
2. `predict` on raw inputs, odd ones included (empty, whitespace-only, non-ASCII, over-long);
3. `export` → `tf.saved_model.load` in a fresh Python process that has not imported
   keras_seq → the same outputs as `task.predict` (float round-off only);
4. `save` → `keras_seq.load` in that process (only now importing keras_seq) → identical
   outputs. One process for both: each TensorFlow start costs seconds of CI.
"""

import json
import os
import pickle
import subprocess
import sys

import numpy as np

ODD_TEXTS = ["", "   \t  ", "Ce film est génial, je l'ai adoré !", "映画はとても良かった",
             "word " * 5000]
_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp")}


def _fresh_python(code, inputs_file, cwd, pythonpath=None):
    env = dict(_ENV)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run([sys.executable, "-c", code, str(inputs_file)], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _plain(outputs):
    """JSON-able copy of a predict() dict (arrays → nested lists)."""
    return {k: (v.tolist() if hasattr(v, "tolist") else
                [x.tolist() if hasattr(x, "tolist") else x for x in v])
            for k, v in outputs.items()}


def _is_numeric(value):
    try:
        np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        return False
    return True


def _assert_same(got, want, export=False):
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for key in want:
        if want[key] and _is_numeric(want[key]) and np.asarray(want[key]).dtype.kind == "f":
            # The export runs the same ops in a SavedModel graph: float round-off only.
            atol = 1e-5 if export else 0.0
            np.testing.assert_allclose(np.asarray(got[key], "float64"),
                                       np.asarray(want[key], "float64"), rtol=0, atol=atol,
                                       err_msg=key)
        else:
            assert got[key] == want[key], key


def run_task_test(task, x, y, tmp_path, predict_inputs=None, export_outputs=None,
                  check_output=None, export_input="text", export_dtype="string",
                  fit_kwargs=None):
    """Runs `task` through the four checks above; returns the predictions of step 2.

    Args:
        task: an untrained `keras_seq.tasks.Task` built from raw data.
        x, y: tiny raw training data (y may be None for self-supervised tasks).
        tmp_path: a folder for the artifacts.
        predict_inputs: raw inputs to predict (default: 3 of `x` and `ODD_TEXTS`): a list
            of strings, of image bytes, or of equal-length float series.
        export_outputs: how the export's output names map to `predict`'s keys (default:
            the same names).
        check_output: called with `(inputs, outputs)` to check the task's own output
            contract (labels, probability ranges, ...).
        export_input: the name of `serving_default`'s input.
        export_dtype: its TensorFlow dtype ("string" for text and image bytes, "float32"
            for series).
        fit_kwargs: extra keyword arguments of `task.fit`.
    """
    import keras_seq

    repo = str(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    history = task.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=0, **(fit_kwargs or {}))
    assert np.isfinite(history.history["loss"][-1])
    inputs = list(predict_inputs if predict_inputs is not None else [*x[:3], *ODD_TEXTS])
    outputs = _plain(task.predict(inputs))
    for values in outputs.values():
        assert len(values) == len(inputs)
    if check_output:
        check_output(inputs, outputs)
    inputs_file = tmp_path / "inputs.pkl"  # raw inputs of any kind (str, bytes, floats)
    inputs_file.write_bytes(pickle.dumps(inputs))

    saved = task.save(tmp_path / "task.kseq")
    assert keras_seq.load(saved).get_config() == task.get_config()
    export_dir = tmp_path / "export"
    task.export(export_dir)
    # One fresh process (a TensorFlow start costs seconds): first the export with plain
    # TensorFlow, checking that nothing imported keras_seq; then `keras_seq.load`.
    code = ("import json, pickle, sys\nimport tensorflow as tf\n"
            "try:\n    import tensorflow_text  # noqa: F401 (word-piece exports)\n"
            "except ImportError:\n    pass\n"
            "inputs = pickle.load(open(sys.argv[1], 'rb'))\n"
            f"fn = tf.saved_model.load({str(export_dir)!r}).signatures['serving_default']\n"
            f"out = fn({export_input}=tf.constant(inputs, tf.{export_dtype}))\n"
            "def plain(v):\n"
            "    if isinstance(v, bytes):\n        return v.decode('utf-8')\n"
            "    if isinstance(v, list):\n        return [plain(e) for e in v]\n"
            "    return v\n"
            "res = {k: plain(v.numpy().tolist()) for k, v in out.items()}\n"
            "res['_modules'] = sorted(m for m in sys.modules if m.startswith('keras_seq'))\n"
            "import keras_seq\n"
            f"task = keras_seq.load({str(saved)!r})\n"
            "out = task.predict(inputs)\n"
            "loaded = {k: (v.tolist() if hasattr(v, 'tolist') else"
            " [x.tolist() if hasattr(x, 'tolist') else x for x in v])"
            " for k, v in out.items()}\n"
            "print(json.dumps({'export': res, 'loaded': loaded}))\n")
    fresh = _fresh_python(code, inputs_file, cwd=repo, pythonpath=repo)
    _assert_same(fresh["loaded"], outputs)  # save → load: identical outputs
    exported = fresh["export"]
    assert exported.pop("_modules") == []  # the export needs no keras_seq
    names = export_outputs or {k: k for k in outputs}
    _assert_same({names[k]: v for k, v in exported.items() if k in names}, outputs,
                 export=True)
    return outputs
