"""Callbacks that kill a training run part-way and record where a resumed run starts."""

import keras


class KillDuringEpoch(keras.callbacks.Callback):
    """Raises `KeyboardInterrupt` after `after` training batches of epoch `epoch` (as a kill
    would; `after=0` kills as the epoch begins)."""

    def __init__(self, epoch, after=0):
        super().__init__()
        self.epoch, self.after, self.current = epoch, after, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch
        if epoch == self.epoch and self.after == 0:
            raise KeyboardInterrupt("simulated kill")

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch + 1 >= self.after > 0:
            raise KeyboardInterrupt("simulated kill")


class EpochRecorder(keras.callbacks.Callback):
    """`epochs`: the epochs that began, in order."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)
