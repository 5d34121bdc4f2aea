"""keras_seq.layers: the lecture's building blocks (keras + keras.ops only, no TensorFlow)."""

from keras_seq.layers.attention_masks import (
    causal_attention_mask,
    keras_mask_of,
    masked_softmax,
    merge_attention_masks,
)
from keras_seq.layers.bahdanau_attention import BahdanauAttention
from keras_seq.layers.backbone_image_encoder import BackboneImageEncoder
from keras_seq.layers.bidirectional_mean_pooled_rnn import BidirectionalMeanPooledRNN
from keras_seq.layers.conv_image_encoder import ConvImageEncoder
from keras_seq.layers.elman_rnn_cell import ElmanRNNCell
from keras_seq.layers.multi_head_attention import MultiHeadAttention
from keras_seq.layers.positional_embedding import PositionalEmbedding
from keras_seq.layers.positionwise_feed_forward import PositionwiseFeedForward
from keras_seq.layers.region_twin_scores import RegionTwinScores
from keras_seq.layers.image_self_similarity import ImageSelfSimilarity
from keras_seq.layers.hash_dropout import HashDropout
from keras_seq.layers.scalar_mix import ScalarMix
from keras_seq.layers.sinusoidal_positional_encoding import SinusoidalPositionalEncoding
from keras_seq.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_seq.layers.transformer_encoder_block import TransformerEncoderBlock

__all__ = [
    "BackboneImageEncoder",
    "BahdanauAttention",
    "BidirectionalMeanPooledRNN",
    "ConvImageEncoder",
    "ElmanRNNCell",
    "HashDropout",
    "ImageSelfSimilarity",
    "MultiHeadAttention",
    "PositionalEmbedding",
    "PositionwiseFeedForward",
    "RegionTwinScores",
    "ScalarMix",
    "SinusoidalPositionalEncoding",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "causal_attention_mask",
    "keras_mask_of",
    "masked_softmax",
    "merge_attention_masks",
]
