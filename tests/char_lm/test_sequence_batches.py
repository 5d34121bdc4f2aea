import numpy as np
import pytest

from keras_seq.data.sequence_batches import (
    random_sampling_dataset, sequential_batches, sequential_dataset, split_by_position,
    window_dataset, windows)

IDS = np.arange(1, 1001, dtype="int32")  # token i is i + 1: easy to check positions


def test_windows_are_stride_one_and_targets_are_shifted():
    x, y = windows(IDS, 5, start=3, count=4)
    assert x.shape == (4, 5)
    np.testing.assert_array_equal(x[0], IDS[3:8])
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(x[1], x[0] + 1)
    batches = list(window_dataset(IDS, 5, 3, start=0, count=7, shuffle=False))
    assert [b[0].shape[0] for b in batches] == [3, 3, 1]


def test_random_sampling_is_non_overlapping_with_a_new_offset_per_epoch():
    ds = random_sampling_dataset(IDS, batch_size=4, num_steps=10, seed=3)
    n = int(ds.cardinality().numpy())
    epochs = []
    for _ in range(3):
        pairs = [(x.numpy(), y.numpy()) for x, y in ds]  # one pass = one epoch
        xs = np.concatenate([p[0] for p in pairs])
        ys = np.concatenate([p[1] for p in pairs])
        assert len(xs) == n * 4
        np.testing.assert_array_equal(ys, xs + 1)
        starts = np.sort(xs[:, 0])
        offsets = set((starts - 1) % 10)
        assert len(offsets) == 1  # one offset per epoch, windows on a 10-grid
        assert len(set(starts)) == len(starts)  # no window twice
        epochs.append((offsets.pop(), xs[:, 0].tolist()))
    assert len({tuple(e[1]) for e in epochs}) > 1  # reshuffled / re-offset


def test_sequential_partitioning_rows_continue_across_batches():
    x, y = sequential_batches(IDS, batch_size=4, num_steps=10, offset=2)
    assert x.shape[1:] == (4, 10)
    np.testing.assert_array_equal(y, x + 1)
    for k in range(len(x) - 1):  # row b of batch k+1 continues row b of batch k
        np.testing.assert_array_equal(x[k + 1][:, 0], x[k][:, -1] + 1)
    ds = list(sequential_dataset(IDS, 4, 10, random_offset=False))
    assert len(ds) == len(x)
    np.testing.assert_array_equal(ds[1][0].numpy()[:, 0], ds[0][0].numpy()[:, -1] + 1)


def test_split_by_position_and_errors():
    a, b = split_by_position(IDS, 0.1)
    assert len(a) == 900 and b[0] == a[-1] + 1
    with pytest.raises(ValueError, match="num_steps"):
        windows(IDS, 0)
    with pytest.raises(ValueError, match="too short"):
        random_sampling_dataset(IDS[:50], batch_size=8, num_steps=10)
    with pytest.raises(ValueError, match="validation_fraction"):
        split_by_position(IDS, 1.5)
