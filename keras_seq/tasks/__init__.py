"""Tasks: a network plus the preprocessing of its raw inputs (fit/predict/save/export).

`keras_seq.load(path)` reopens a saved task file or a finished run folder.
"""

from keras_seq.tasks.captioner import Captioner, CaptionerPreprocessor
from keras_seq.tasks.imdb_classifier import ImdbClassifier, ImdbPreprocessor
from keras_seq.tasks.task import TASK_CLASSES, Task, load
from keras_seq.tasks.translator import Translator, TranslatorPreprocessor

__all__ = ["Captioner", "CaptionerPreprocessor", "ImdbClassifier", "ImdbPreprocessor",
           "TASK_CLASSES", "Task", "Translator",
           "TranslatorPreprocessor", "load"]
