"""ELMo's scalar mix: a learned, softmax-normalised weighted sum of a stack of layer outputs."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seq")
class ScalarMix(keras.layers.Layer):
    """Collapses the L+1 layer representations of a biLM into one vector per token.

    ELMo (Peters et al., 2018, eq. 1), for token t and the layers j = 0..L (j = 0: the token
    layer, j >= 1: the LSTM layers, each [h_fwd; h_bwd]):

        ELMo_t = γ · Σ_j softmax(s)_j · h_{t,j}

    with learned scalars s (one per layer, initialised to `initial_scalar_parameters`,
    default 0 = a uniform average) and a learned scale γ (default 1). With
    `layer_norm=True` each h_{•,j} is first normalised over the real (unmasked) steps and
    features of each sequence, as in the paper's optional variant.

    Args:
        num_layers: number of stacked representations L+1 (int >= 1).
        initial_scalar_parameters: list of `num_layers` floats for s, or None (zeros).
        trainable_scalars: whether s is learned (γ is always learned).
        layer_norm: normalise each layer before mixing (mask-aware).
        initial_gamma: initial value of γ (1.0 as in the paper; a small value lets a task
            start from its other inputs and switch the mix on as it learns).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(batch, num_layers, time, features)`.
        mask: Keras mask `(batch, time)` or None (propagated unchanged).
        padding_mask: explicit bool `(batch, time)`, True = real token; takes precedence
            over `mask`. Used only by `layer_norm`; the output keeps the time axis.

    Returns:
        A tensor `(batch, time, features)`; the input mask is propagated.

    Example:

    >>> import numpy as np
    >>> mix = ScalarMix(3)
    >>> x = np.stack([np.full((2, 5, 4), v, "float32") for v in (1.0, 2.0, 6.0)], axis=1)
    >>> out = mix(x)  # s = 0: the plain mean of the three layers, γ = 1
    >>> tuple(out.shape), float(out[0, 0, 0])
    ((2, 5, 4), 3.0)
    """

    def __init__(self, num_layers, initial_scalar_parameters=None, trainable_scalars=True,
                 layer_norm=False, initial_gamma=1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"`num_layers` must be an int >= 1, got num_layers={num_layers!r}.")
        if initial_scalar_parameters is None:
            initial_scalar_parameters = [0.0] * num_layers
        initial_scalar_parameters = [float(v) for v in initial_scalar_parameters]
        if len(initial_scalar_parameters) != num_layers:
            raise ValueError(
                f"`initial_scalar_parameters` must hold num_layers={num_layers} floats, got "
                f"{len(initial_scalar_parameters)}: {initial_scalar_parameters!r}.")
        self.num_layers = num_layers
        self.initial_scalar_parameters = initial_scalar_parameters
        self.trainable_scalars = bool(trainable_scalars)
        self.layer_norm = bool(layer_norm)
        self.initial_gamma = float(initial_gamma)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 4 or (input_shape[1] is not None
                                     and input_shape[1] != self.num_layers):
            raise ValueError(
                "`inputs` must have shape (batch, num_layers, time, features) with "
                f"num_layers={self.num_layers}, got {tuple(input_shape)}.")
        self.scalar_parameters = self.add_weight(
            name="scalar_parameters", shape=(self.num_layers,),
            initializer=keras.initializers.Constant(self.initial_scalar_parameters),
            trainable=self.trainable_scalars)
        self.gamma = self.add_weight(name="gamma", shape=(),
                                     initializer=keras.initializers.Constant(self.initial_gamma))

    def layer_weights(self):
        """softmax(s), shape `(num_layers,)` (the share of each layer in the mix)."""
        return ops.softmax(self.scalar_parameters)

    def _normalise(self, x, padding_mask):
        # Mean/variance of each (sequence, layer) over its real steps and features.
        features = ops.cast(ops.shape(x)[-1], x.dtype)
        if padding_mask is None:
            mean = ops.mean(x, axis=(2, 3), keepdims=True)
            var = ops.mean(ops.square(x - mean), axis=(2, 3), keepdims=True)
        else:
            m = ops.cast(padding_mask, x.dtype)[:, None, :, None]  # (B, 1, T, 1)
            count = ops.maximum(ops.sum(m, axis=(2, 3), keepdims=True) * features, 1.0)
            mean = ops.sum(x * m, axis=(2, 3), keepdims=True) / count
            var = ops.sum(ops.square(x - mean) * m, axis=(2, 3), keepdims=True) / count
        return (x - mean) / ops.sqrt(var + 1e-12)

    def call(self, inputs, mask=None, padding_mask=None):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)  # (B, L+1, T, D)
        if padding_mask is None:
            padding_mask = mask
        if self.layer_norm:
            x = self._normalise(x, padding_mask)
        weights = ops.cast(ops.softmax(self.scalar_parameters), x.dtype)  # (L+1,)
        mixed = ops.einsum("bltd,l->btd", x, weights)  # (B, T, D)
        return ops.cast(self.gamma, x.dtype) * mixed

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2], input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(num_layers=self.num_layers,
                      initial_scalar_parameters=list(self.initial_scalar_parameters),
                      trainable_scalars=self.trainable_scalars, layer_norm=self.layer_norm,
                      initial_gamma=self.initial_gamma)
        return config
