"""Where a training job runs: one process, several local devices, or several worker processes.

`TrainingCluster` wraps a `tf.distribute` strategy (TensorFlow's own engine, nothing home-made)
and answers what the applications need around it: is this process the chief (the only one that
writes run files), where may a non-chief write, how many replicas split the global batch.

    --strategy none          no strategy (the default)
    --strategy one-device    `tf.distribute.OneDeviceStrategy`: one replica, same code path as
                             the distributed strategies (useful as their baseline)
    --strategy mirrored      `tf.distribute.MirroredStrategy` over the local GPUs, or over
                             `--cpu-devices N` logical CPU devices (tests without GPUs)
    --strategy multi-worker  `tf.distribute.MultiWorkerMirroredStrategy` across the processes
                             named by the standard `TF_CONFIG` environment variable

`--batch-size` is always the global batch: each of the R replicas gets 1/R of every batch, so
a distributed run and a single-process run with the same batch size and seed see the same
examples per step (and reach the same loss: tests/distribution).
"""

import json
import os
import pathlib
import shutil
import tempfile

STRATEGIES = ("none", "one-device", "mirrored", "multi-worker")
WORKER_LOST_EXIT_STATUS = 75  # EX_TEMPFAIL: restart the job to resume

_ACTIVE = None


def current_cluster():
    """The `TrainingCluster` of the running job (a plain single process when none started)."""
    global _ACTIVE
    if _ACTIVE is None:
        _ACTIVE = TrainingCluster("none")
    return _ACTIVE


def parse_tf_config(text):
    """Reads a `TF_CONFIG` value: (task type, task index, {job: [addresses]}).

    Args:
        text: the JSON text of `TF_CONFIG`.

    Returns:
        `(task_type, task_index, cluster)`.

    Raises:
        ValueError: not JSON, or no "cluster" / "task" entries that name this process.
    """
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG must be JSON, got {text[:200]!r} ({error}).") from None
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster or not isinstance(task, dict):
        raise ValueError(
            "TF_CONFIG must hold 'cluster' ({'worker': ['host:port', ...]}) and 'task' "
            f"({{'type': 'worker', 'index': i}}), got {text[:200]!r}.")
    task_type, index = task.get("type"), task.get("index")
    if task_type not in cluster or not isinstance(index, int) or \
            not 0 <= index < len(cluster[task_type]):
        raise ValueError(f"TF_CONFIG task {task!r} is not in its cluster {cluster!r}.")
    return task_type, index, cluster


class TrainingCluster:
    """A `tf.distribute` strategy plus the chief/worker facts a training job needs.

    Only the chief writes the run folder (TensorBoard logs, backups, history, export,
    metrics). A non-chief worker runs exactly the same code, so every collective operation
    has its partner, but writes into a private temporary copy of the run folder that is
    removed at the end; it reads the backups from the shared run folder, so a restarted job
    resumes every worker from the same checkpoint.

    Args:
        strategy: one of "none", "one-device", "mirrored", "multi-worker".
        cpu_devices: split the CPU into this many logical devices and mirror over them (only
            with "mirrored"; for testing data parallelism without GPUs).
        run_dir: the run folder the job writes (a non-chief copies its files at start-up,
            before any worker can change them).
        collective_timeout_seconds: multi-worker only: fail a collective operation that
            waits longer than this (None: TensorFlow's default, wait; a dead peer is still
            found by TensorFlow's heartbeat check).

    Example:

    >>> cluster = TrainingCluster("none")
    >>> cluster.is_chief, cluster.num_replicas
    (True, 1)
    """

    def __init__(self, strategy="none", cpu_devices=None, run_dir=None,
                 collective_timeout_seconds=None):
        if strategy not in STRATEGIES:
            raise ValueError(f"`--strategy` must be one of {', '.join(STRATEGIES)}, "
                             f"got strategy={strategy!r}.")
        if cpu_devices is not None:
            if strategy != "mirrored":
                raise ValueError(
                    "`--cpu-devices` splits this process's CPU into logical devices for "
                    f"`--strategy mirrored`, got it with strategy={strategy!r}.")
            if not isinstance(cpu_devices, int) or cpu_devices < 1:
                raise ValueError(f"`--cpu-devices` must be a positive integer, got "
                                 f"cpu_devices={cpu_devices!r}.")
        self.name = strategy
        self.cpu_devices = cpu_devices
        self.run_dir = pathlib.Path(run_dir) if run_dir else None
        self.collective_timeout_seconds = collective_timeout_seconds
        self.task_type, self.task_index, self.cluster_spec = "worker", 0, None
        if strategy == "multi-worker":
            text = os.environ.get("TF_CONFIG")
            if not text:
                raise ValueError(
                    "`--strategy multi-worker` needs the TF_CONFIG environment variable, e.g. "
                    "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                    "\"task\": {\"type\": \"worker\", \"index\": 0}}' (one process per "
                    "worker, each with its own index); got none.")
            self.task_type, self.task_index, self.cluster_spec = parse_tf_config(text)
        self._strategy = None
        self._worker_dir = None

    @classmethod
    def from_args(cls, args):
        """A cluster from parsed `keras-seq train` options (`--strategy`, `--cpu-devices`)."""
        return cls(getattr(args, "strategy", "none") or "none",
                   cpu_devices=getattr(args, "cpu_devices", None),
                   run_dir=getattr(args, "run_dir", None),
                   collective_timeout_seconds=getattr(args, "collective_timeout", None))

    # ---- who am I ------------------------------------------------------------------------
    @property
    def is_chief(self):
        """True for the process that writes: the "chief" task, else worker 0."""
        if self.cluster_spec is None:
            return True
        if "chief" in self.cluster_spec:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def num_workers(self):
        """How many processes train together."""
        if self.cluster_spec is None:
            return 1
        return sum(len(v) for k, v in self.cluster_spec.items() if k in ("chief", "worker"))

    @property
    def strategy(self):
        """The `tf.distribute.Strategy` (the default no-op strategy for "none")."""
        if self._strategy is None:
            if self.name != "none":
                raise RuntimeError("call TrainingCluster.start() before using its strategy")
            import tensorflow as tf

            return tf.distribute.get_strategy()
        return self._strategy

    @property
    def num_replicas(self):
        """Replicas that share each global batch."""
        if self.name == "none":
            return 1
        return int(self.strategy.num_replicas_in_sync)

    # ---- start / stop --------------------------------------------------------------------
    def start(self):
        """Creates the strategy (before TensorFlow runs anything) and makes it current.

        For a non-chief it first copies the run folder's files; for multi-worker it then
        waits until every worker has connected (a barrier), so no worker reads a file the
        chief writes in this job.

        Returns:
            self.

        Raises:
            RuntimeError: TensorFlow was already initialized when logical CPU devices were
                requested, or the workers could not connect.
            keras_seq.compat.KerasCompatError: the installed Keras lacks an internal that
                the distribution fixes patch (`apply_keras_distribute_fixes`).
        """
        global _ACTIVE
        if self.name != "none" and self._strategy is None:
            import tensorflow as tf

            from keras_seq.distribution.keras_distribute_fixes import (
                apply_keras_distribute_fixes)

            # Without its fixes a strategy trains differently (module docstring of
            # keras_distribute_fixes): a Keras that lacks a target stops the run here,
            # naming it (KerasCompatError), before any strategy exists.
            if apply_keras_distribute_fixes() is not True:
                raise RuntimeError("keras_seq.distribution: the Keras fixes for "
                                   f"--strategy {self.name} could not be applied.")
            if self.name == "one-device":
                gpus = tf.config.list_logical_devices("GPU")
                self._strategy = tf.distribute.OneDeviceStrategy(
                    gpus[0].name if gpus else "/cpu:0")
            elif self.name == "mirrored":
                self._strategy = tf.distribute.MirroredStrategy(self._mirrored_devices(tf))
            else:
                if not self.is_chief:
                    self._copy_run_files()
                options = tf.distribute.experimental.CommunicationOptions(
                    timeout_seconds=self.collective_timeout_seconds)
                self._strategy = tf.distribute.MultiWorkerMirroredStrategy(
                    communication_options=options)
                self._barrier(tf)
            self._shard_by_data(tf)
        _ACTIVE = self
        return self

    def close(self):
        """Removes a non-chief's private folder and forgets this cluster as the current one."""
        global _ACTIVE
        if self._worker_dir is not None:
            shutil.rmtree(self._worker_dir, ignore_errors=True)
            self._worker_dir = None
        if _ACTIVE is self:
            _ACTIVE = None

    def scope(self):
        """The strategy scope: build and compile models inside it."""
        return self.strategy.scope()

    def _mirrored_devices(self, tf):
        if self.cpu_devices:
            cpu = tf.config.list_physical_devices("CPU")[0]
            wanted = [tf.config.LogicalDeviceConfiguration()] * self.cpu_devices
            current = tf.config.get_logical_device_configuration(cpu)
            if current is None or len(current) != self.cpu_devices:
                try:
                    tf.config.set_logical_device_configuration(cpu, wanted)
                except RuntimeError as error:
                    raise RuntimeError(
                        f"`--cpu-devices {self.cpu_devices}` must be set before TensorFlow "
                        "starts; this process had already initialized it (run the job in a "
                        f"fresh process). TensorFlow said: {error}") from None
            return [d.name for d in tf.config.list_logical_devices("CPU")]
        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in gpus] if gpus else ["/cpu:0"]

    def _barrier(self, tf):
        strategy = self._strategy

        @tf.function
        def count_workers():
            ones = strategy.run(lambda: tf.constant(1.0))
            return strategy.reduce("SUM", ones, axis=None)

        try:
            connected = int(count_workers())
        except tf.errors.OpError as error:
            raise RuntimeError(
                f"worker {self.task_index} could not reach the other workers of TF_CONFIG "
                f"{self.cluster_spec}: {error.message}") from None
        if connected != self.num_replicas:
            raise RuntimeError(f"expected {self.num_replicas} replicas, {connected} answered")

    def _shard_by_data(self, tf):
        """Every dataset given to this strategy is sharded by element, not by file.

        Datasets built from tensors cannot be split by file, and for file-based ones sharding
        by file would let workers see different numbers of batches and hang at the end.
        """
        strategy = self._strategy
        distribute = strategy.experimental_distribute_dataset

        def distribute_by_data(dataset, options=None):
            data_options = tf.data.Options()
            data_options.experimental_distribute.auto_shard_policy = \
                tf.data.experimental.AutoShardPolicy.DATA
            return distribute(dataset.with_options(data_options), options)

        strategy.experimental_distribute_dataset = distribute_by_data

    # ---- where a non-chief writes --------------------------------------------------------
    def _private_dir(self):
        if self._worker_dir is None:
            self._worker_dir = pathlib.Path(tempfile.mkdtemp(
                prefix=f"keras-seq-{self.task_type}{self.task_index}-"))
        return self._worker_dir

    def _copy_run_files(self):
        target = self._private_dir() / "run"
        target.mkdir(parents=True, exist_ok=True)
        if self.run_dir is not None and self.run_dir.is_dir():
            for item in self.run_dir.iterdir():
                if item.is_file():
                    shutil.copy2(item, target / item.name)
        return target

    def worker_run_dir(self, run_dir):
        """For a non-chief: the private folder standing in for `run_dir` (None: a new one).

        Args:
            run_dir: the run folder the chief writes, or None.

        Returns:
            A `pathlib.Path` inside this worker's temporary folder.
        """
        if self.is_chief:
            raise RuntimeError("the chief writes the real run folder")
        same = run_dir is not None and self.run_dir is not None and \
            pathlib.Path(run_dir).resolve() == self.run_dir.resolve()
        if same:
            copy = self._private_dir() / "run"
            return copy if copy.is_dir() else self._copy_run_files()
        path = pathlib.Path(tempfile.mkdtemp(prefix="run-", dir=self._private_dir()))
        if run_dir is not None and pathlib.Path(run_dir).is_dir():
            for item in pathlib.Path(run_dir).iterdir():
                if item.is_file():
                    shutil.copy2(item, path / item.name)
        return path

    def describe(self, global_batch_size=None):
        """One line saying how the job is distributed."""
        if self.name == "none":
            return "Distribution: none (one process, no tf.distribute strategy)."
        devices = ", ".join(self.strategy.extended.worker_devices)
        line = f"Distribution: {self.name}, {self.num_replicas} replica(s)"
        if self.name == "multi-worker":
            role = "chief" if self.is_chief else "non-chief (writes nothing to the run folder)"
            line += (f" over {self.num_workers} workers; this is {self.task_type} "
                     f"{self.task_index}, the {role}")
        line += f"; local devices: {devices}"
        if global_batch_size:
            per = global_batch_size / self.num_replicas
            line += f"; global batch {global_batch_size} = {per:g} per replica"
        return line + "."


def model_scope():
    """The scope to build and compile models in: the current cluster's strategy scope.

    Without `--strategy` it is TensorFlow's default (no-op) strategy scope.
    """
    return current_cluster().scope()


class WorkerLostError(RuntimeError):
    """A worker of a multi-worker job stopped; the job must be restarted to resume."""


def run_in_cluster(run, args, log=print, **run_kwargs):
    """Starts the `TrainingCluster` of `args` (the current one while `run(args)` runs).

    The application builds and compiles its model inside `model_scope()`; the export and its
    check run outside (a SavedModel loaded under a strategy scope cannot be called).

    Args:
        run: the application's `run` function.
        args: its parsed options (with `--strategy` etc.; absent means "none").
        log: printer for the one line describing the distribution.
        **run_kwargs: more arguments for `run`.

    Returns:
        What `run` returns.

    Raises:
        WorkerLostError: another worker of a multi-worker job stopped.
    """
    cluster = TrainingCluster.from_args(args)
    if cluster.name == "none":
        return run(args, **run_kwargs)
    cluster.start()
    try:
        log(cluster.describe(getattr(args, "batch_size", None)))
        if getattr(args, "jit_compile", None) == "on" and cluster.num_replicas > 1:
            log("WARNING: --jit-compile on under a multi-replica strategy: XLA could not "
                "compile tf.distribute's collective operations on CPU here (auto leaves the "
                "distributed train step uncompiled); on GPUs this was not measured.")
        return run(args, **run_kwargs)
    except Exception as error:
        import tensorflow as tf

        lost = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                tf.errors.CancelledError, tf.errors.AbortedError)
        if cluster.name == "multi-worker" and isinstance(error, lost):
            where = f" --run-dir {args.run_dir}" if getattr(args, "run_dir", None) else ""
            raise WorkerLostError(
                f"a worker of this multi-worker job stopped ({type(error).__name__}: "
                f"{str(error).strip().splitlines()[0][:300]}). Start every worker again with "
                f"the same command{where}: training resumes from the last backup.") from error
        raise
    finally:
        cluster.close()
