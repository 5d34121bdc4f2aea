"""SequenceTagger: padding invariance (both directions), the stacked Elman formula, config."""

import keras
import numpy as np
import pytest

from keras_seq.models.sequence_tagger import SequenceTagger

IDS = np.array([[40, 41, 42, 43, 0, 0], [5, 6, 7, 8, 9, 10], [12, 0, 0, 0, 0, 0]])


def _tagger(cell, bidirectional, layers=2, **kwargs):
    model = SequenceTagger(97, 5, cell=cell, hidden_dim=6, num_layers=layers,
                           bidirectional=bidirectional, embedding_dim=4, **kwargs)
    model(IDS)
    return model


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["elman", "gru", "lstm"])
def test_extra_padding_changes_nothing(cell, bidirectional):
    model = _tagger(cell, bidirectional)
    out = keras.ops.convert_to_numpy(model(IDS))
    padded = np.concatenate([IDS, np.zeros((3, 9), "int64")], axis=1)
    out_padded = keras.ops.convert_to_numpy(model(padded))
    real = IDS != 0
    np.testing.assert_allclose(out_padded[:, :6][real], out[real], atol=1e-5)
    for i, row in enumerate(IDS):  # ... and each sentence alone, unpadded
        n = int(real[i].sum())
        alone = keras.ops.convert_to_numpy(model(row[None, :n]))[0]
        np.testing.assert_allclose(alone, out[i, :n], atol=1e-5)
    # The backward direction sees the right context: changing the last real character
    # changes the first output only when bidirectional.
    changed = IDS.copy()
    changed[1, 5] = 70
    first = keras.ops.convert_to_numpy(model(changed))[1, 0]
    assert (np.abs(first - out[1, 0]).max() > 1e-6) == bidirectional
    assert model.compute_mask(IDS).numpy().tolist() == real.tolist()


def _elman_layer(x, cell, reverse=False):
    """h_t = tanh(U x_t + V h_{t-1} + b_h), in NumPy; `reverse` runs from the end."""
    U, V, b = (np.asarray(w) for w in (cell.U, cell.V, cell.b_h))
    steps = range(len(x) - 1, -1, -1) if reverse else range(len(x))
    h, out = np.zeros(V.shape[0]), np.zeros((len(x), V.shape[0]))
    for t in steps:
        h = np.tanh(U @ x[t] + V @ h + b)
        out[t] = h
    return out


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_stacked_elman_formula_in_numpy(bidirectional):
    model = _tagger("elman", bidirectional)
    emb = np.asarray(model.embedding.embeddings)
    W, b = np.asarray(model.head.kernel), np.asarray(model.head.bias)
    out = keras.ops.convert_to_numpy(model(IDS))
    for i, row in enumerate(IDS):
        h = emb[row[row != 0]]  # h^0_t = e(x_t)
        for layer in model.rnn_layers:  # h^l_t = tanh(W_xh h^{l-1}_t + W_hh h^l_{t-1} + b)
            if bidirectional:
                h = np.concatenate([_elman_layer(h, layer.forward_layer.cell),
                                    _elman_layer(h, layer.backward_layer.cell, reverse=True)],
                                   axis=-1)
            else:
                h = _elman_layer(h, layer.cell)
        y = h @ W + b  # y_t = W_hy h^L_t + b_y
        np.testing.assert_allclose(out[i, :len(h)], y, atol=1e-5)


def test_config_round_trip_and_keras_file(tmp_path):
    model = _tagger("gru", True, layers=1, dropout=0.2)
    config = model.get_config()
    assert {k: config[k] for k in ("vocabulary_size", "num_tags", "cell", "hidden_dim",
                                   "num_layers", "bidirectional", "embedding_dim",
                                   "dropout")} == \
        dict(vocabulary_size=97, num_tags=5, cell="gru", hidden_dim=6, num_layers=1,
             bidirectional=True, embedding_dim=4, dropout=0.2)
    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(IDS)),
                               keras.ops.convert_to_numpy(model(IDS)), atol=1e-6)
    tags = model.predict_tags(IDS)
    assert tags.shape == IDS.shape and (tags[IDS == 0] == 0).all()


def test_fit_ignores_padding_with_sample_weights():
    model = _tagger("lstm", True, layers=1)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=["accuracy"])
    y = np.where(IDS != 0, 1, 0)
    w = (IDS != 0).astype("float32")
    before = model.evaluate(IDS, y, sample_weight=w, verbose=0, return_dict=True)
    y_other_padding = np.where(IDS != 0, 1, 3)  # labels on padding must not matter
    other = model.evaluate(IDS, y_other_padding, sample_weight=w, verbose=0, return_dict=True)
    assert before["loss"] == pytest.approx(other["loss"], rel=1e-6)
    assert before["accuracy"] == pytest.approx(other["accuracy"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(cell="transformer"), "cell"), (dict(hidden_dim=0), "hidden_dim"),
    (dict(num_layers=1.5), "num_layers"), (dict(dropout=1.0), "dropout"),
    (dict(num_tags=1), "num_tags"),
])
def test_bad_arguments(kwargs, message):
    args = dict(vocabulary_size=97, num_tags=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SequenceTagger(**args)
