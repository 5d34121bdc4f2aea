"""keras_seq.models: task models built from keras_seq.layers (keras + keras.ops, no TensorFlow)."""

from keras_seq.models.sentiment_classifier import build_sentiment_classifier
from keras_seq.models.sentiment_classifier import compile_sentiment_classifier
from keras_seq.models.bahdanau_encoder_decoder import BahdanauEncoderDecoder
from keras_seq.models.image_captioner import ImageCaptioner
from keras_seq.models.rnn_encoder_decoder import RNNEncoderDecoder
from keras_seq.models.seq2seq_model import Seq2SeqModel
from keras_seq.models.transformer_encoder_decoder import TransformerEncoderDecoder
