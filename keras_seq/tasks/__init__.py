"""Tasks: a network plus the preprocessing of its raw inputs (fit/predict/save/export).

`keras_seq.load(path)` reopens a saved task file or a finished run folder.
"""

from keras_seq.tasks.bert_mlm import BertMLM, BertMLMPreprocessor
from keras_seq.tasks.captioner import Captioner, CaptionerPreprocessor
from keras_seq.tasks.char_lm import CharLM, CharLMPreprocessor
from keras_seq.tasks.elmo_lm import ElmoLM, ElmoLMPreprocessor
from keras_seq.tasks.forecaster import Forecaster, ForecasterPreprocessor
from keras_seq.tasks.gpt_lm import GptLM, GptLMPreprocessor
from keras_seq.tasks.imdb import ImdbClassifier, ImdbPreprocessor
from keras_seq.tasks.tagger import Tagger, TaggerPreprocessor
from keras_seq.tasks.task import TASK_CLASSES, Task, load
from keras_seq.tasks.translator import Translator, TranslatorPreprocessor

__all__ = ["BertMLM", "BertMLMPreprocessor", "Captioner", "CaptionerPreprocessor", "CharLM",
           "CharLMPreprocessor", "ElmoLM", "ElmoLMPreprocessor", "Forecaster",
           "ForecasterPreprocessor", "GptLM", "GptLMPreprocessor", "ImdbClassifier",
           "ImdbPreprocessor", "load", "Tagger", "TaggerPreprocessor", "Task", "TASK_CLASSES",
           "Translator", "TranslatorPreprocessor"]
