"""Shared helpers of the char-LM tests: where the real book is, a tiny text."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]

TINY_TEXT = (
    "The Time Traveller (for so it will be convenient to speak of him) was expounding a "
    "recondite matter to us. His grey eyes shone and twinkled, and his usually pale face was "
    "flushed and animated. The fire burned brightly, and the soft radiance of the incandescent "
    "lights in the lilies of silver caught the bubbles that flashed and passed in our glasses. "
) * 12


def timemachine_path():
    """The shared copy of timemachine.txt, or None (tests then skip)."""
    roots = []
    if os.environ.get("KERAS_SEQ_DATA_DIR"):
        roots.append(pathlib.Path(os.environ["KERAS_SEQ_DATA_DIR"]))
    roots += [ROOT.parent / "shared" / "datasets",
              pathlib.Path.cwd().parent / "shared" / "datasets"]
    for root in roots:
        for path in (root / "timemachine" / "timemachine.txt", root / "timemachine.txt"):
            if path.is_file():
                return path
    return None
