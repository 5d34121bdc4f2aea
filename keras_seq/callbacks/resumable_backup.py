"""`BackupAndRestore` that records the right epoch for mid-epoch backups and at epoch ends."""

import keras


class ResumableBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` fixed for runs that are resumed more than once.

    With an integer `save_freq`, Keras 3.15's callback (a) writes the epoch counter of its
    own instance, which starts at 0 in a resumed process, so a backup taken during a resumed
    run says "epoch 0" and a second kill restarts from the first epoch; and (b) does not
    save at the end of an epoch, so a finished run given again repeats its last epoch. This
    subclass sets the counter at every epoch start and also saves at every epoch end.

    Args:
        backup_dir: where the backup lives.
        save_freq: "epoch" or a number of batches between backups.
        delete_checkpoint: delete the backup when training ends (default False here, so a
            finished run given again does not train any more).
        **kwargs: other `BackupAndRestore` arguments.

    Example:

    >>> cb = ResumableBackupAndRestore("runs/imdb/x/backup", save_freq=50)  # doctest: +SKIP
    >>> model.fit(ds, epochs=3, callbacks=[cb])  # doctest: +SKIP
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=False, **kwargs):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=delete_checkpoint,
                         **kwargs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.save_freq != "epoch":
            self._save_model()
