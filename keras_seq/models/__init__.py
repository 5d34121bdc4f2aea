"""keras_seq.models: task models built from keras_seq.layers (keras + keras.ops, no TensorFlow)."""

from keras_seq.models.sentiment_classifier import build_sentiment_classifier
from keras_seq.models.sentiment_classifier import compile_sentiment_classifier
from keras_seq.models.bahdanau_encoder_decoder import BahdanauEncoderDecoder
from keras_seq.models.image_captioner import ImageCaptioner
from keras_seq.models.rnn_encoder_decoder import RNNEncoderDecoder
from keras_seq.models.seq2seq_model import Seq2SeqModel
from keras_seq.models.transformer_encoder_decoder import TransformerEncoderDecoder
from keras_seq.models.bidirectional_language_model import BidirectionalLanguageModel
from keras_seq.models.elmo_embedding import ElmoEmbedding
from keras_seq.models.gpt_language_model import GPTLanguageModel
from keras_seq.models.rnn_forecaster import RNNForecaster
from keras_seq.models.sequence_tagger import SequenceTagger
from keras_seq.models.masked_language_model import MaskedLanguageModel
