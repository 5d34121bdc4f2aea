"""The lecture's Elman RNN cell."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seq")
class ElmanRNNCell(keras.layers.Layer):
    """Elman recurrent cell with an optional output layer, in the lecture's notation.

    Implements, for one time step with input x_t (d), state h_{t-1} (m) and output o_t (n):

        h_t = f(V h_{t-1} + U x_t + b_h)
        o_t = g(W h_t + b_o)

    The weights keep the lecture's shapes: `U` is (m, d), `V` is (m, m), `W` is (n, m),
    `b_h` is (m,), `b_o` is (n,). They are attributes of the cell under those names.
    When `output_units` is None there is no output layer and o_t = h_t (a plain Elman
    cell, as in `keras.layers.SimpleRNNCell`). Use it inside `keras.layers.RNN`.

    On the JAX backend, a masked `RNN(..., return_sequences=True)` over a cell with
    `output_units` needs `zero_output_for_mask=True` (or `unroll=True`): Keras's JAX
    loop repeats `states[0]` (h, not o) as the output at masked steps.

    Args:
        units: int, m, size of the hidden state h_t.
        output_units: int or None, n, size of the output o_t. None: o_t = h_t.
        activation: f, the hidden activation (default "tanh").
        output_activation: g, the output activation (default None = identity).
        use_bias: whether to add b_h and b_o.
        kernel_initializer: initializer of U and W.
        recurrent_initializer: initializer of V (orthogonal by default).
        bias_initializer: initializer of b_h and b_o.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: x_t, a tensor of shape `(batch, d)`.
        states: `[h_{t-1}]`, a list holding one tensor of shape `(batch, m)`.
        training: unused, accepted for the `keras.layers.RNN` API.

    Returns:
        `(o_t, [h_t])`: the output `(batch, n)` (or `(batch, m)` without an output
        layer) and the new state.

    Example:

    >>> import numpy as np, keras
    >>> rnn = keras.layers.RNN(ElmanRNNCell(8, output_units=3), return_sequences=True)
    >>> tuple(rnn(np.zeros((2, 5, 4), "float32")).shape)
    (2, 5, 3)
    """

    def __init__(
        self,
        units,
        output_units=None,
        activation="tanh",
        output_activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive int, got units={units!r}.")
        if output_units is not None and (
            not isinstance(output_units, int) or output_units <= 0
        ):
            raise ValueError(
                "`output_units` must be None or a positive int, got "
                f"output_units={output_units!r}."
            )
        self.units = units
        self.output_units = output_units
        self.activation = keras.activations.get(activation)
        self.output_activation = keras.activations.get(output_activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.state_size = units
        self.output_size = output_units or units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        m = self.units
        self.U = self.add_weight(
            name="U", shape=(m, input_dim), initializer=self.kernel_initializer
        )
        self.V = self.add_weight(
            name="V", shape=(m, m), initializer=self.recurrent_initializer
        )
        self.b_h = (
            self.add_weight(name="b_h", shape=(m,), initializer=self.bias_initializer)
            if self.use_bias
            else None
        )
        self.W = self.b_o = None
        if self.output_units:
            n = self.output_units
            self.W = self.add_weight(
                name="W", shape=(n, m), initializer=self.kernel_initializer
            )
            if self.use_bias:
                self.b_o = self.add_weight(
                    name="b_o", shape=(n,), initializer=self.bias_initializer
                )

    def call(self, inputs, states, training=None):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        # Row-vector form of the lecture's column equations: (V h)^T = h^T V^T.
        # Variables read in the compute dtype also outside `__call__` (compute_output_spec).
        def read(variable):
            return ops.cast(variable, self.compute_dtype)

        pre = ops.matmul(inputs, ops.transpose(read(self.U))) + ops.matmul(
            h_prev, ops.transpose(read(self.V))
        )  # (B, m)
        if self.b_h is not None:
            pre = pre + read(self.b_h)
        h = self.activation(pre)
        if self.W is None:
            return h, [h]
        o = ops.matmul(h, ops.transpose(read(self.W)))  # (B, n)
        if self.b_o is not None:
            o = o + read(self.b_o)
        return self.output_activation(o), [h]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "output_units": self.output_units,
                "activation": keras.activations.serialize(self.activation),
                "output_activation": keras.activations.serialize(
                    self.output_activation
                ),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "recurrent_initializer": keras.initializers.serialize(
                    self.recurrent_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
            }
        )
        return config
