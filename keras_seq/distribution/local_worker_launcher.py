"""Starts a multi-worker job as N processes on this machine (127.0.0.1, free ports).

`keras-seq workers N train APP ...` runs `keras-seq train APP ... --strategy multi-worker`
N times, each with the standard `TF_CONFIG` naming all N workers and its own index, and
prefixes every output line with its worker. On real hosts start one process per host with
the same command and a `TF_CONFIG` that lists the hosts (README, "Scaling out").
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def free_ports(count, host="127.0.0.1"):
    """`count` distinct TCP ports that are free on `host` right now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(addresses, index):
    """The `TF_CONFIG` JSON of worker `index` in a cluster of `addresses` ("host:port")."""
    return json.dumps({"cluster": {"worker": list(addresses)},
                       "task": {"type": "worker", "index": index}})


class LocalWorkerLauncher:
    """N worker processes of one multi-worker job on 127.0.0.1.

    Args:
        command: the command of every worker (a list; `TF_CONFIG` is added to its
            environment).
        num_workers: how many processes (>= 2 makes sense; 1 is allowed).
        env: base environment (default: this process's).
        output: where prefixed output lines go (a text stream, default stdout); None keeps
            each worker's output in `self.outputs[i]` only.

    Example:

    >>> launcher = LocalWorkerLauncher([sys.executable, "-c", "print('hi')"], 2, output=None)
    >>> launcher.start().wait()
    0
    >>> launcher.outputs[1]
    ['hi']
    """

    def __init__(self, command, num_workers, env=None, output=sys.stdout):
        if not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"`num_workers` must be a positive integer, got "
                             f"num_workers={num_workers!r}.")
        self.command = list(command)
        self.num_workers = num_workers
        self.env = dict(os.environ if env is None else env)
        self.output = output
        self.addresses = [f"127.0.0.1:{p}" for p in free_ports(num_workers)]
        self.processes = []
        self.outputs = [[] for _ in range(num_workers)]
        self._threads = []
        self._lock = threading.Lock()

    def start(self):
        """Starts the workers; returns self."""
        for index in range(self.num_workers):
            env = dict(self.env, TF_CONFIG=tf_config(self.addresses, index))
            process = subprocess.Popen(self.command, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, bufsize=1)
            self.processes.append(process)
            thread = threading.Thread(target=self._pump, args=(index, process), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _pump(self, index, process):
        for line in process.stdout:
            line = line.rstrip("\n")
            self.outputs[index].append(line)
            if self.output is not None:
                with self._lock:
                    print(f"[worker {index}] {line}", file=self.output, flush=True)

    def wait(self, timeout=None, grace_seconds=60.0):
        """Waits for every worker; when one fails, the others get `grace_seconds` to stop.

        Args:
            timeout: give up (and stop every worker) after this many seconds.
            grace_seconds: how long the others may run after a worker failed (TensorFlow's
                heartbeat check normally stops them on its own) before they are terminated.

        Returns:
            0 when all succeeded, else the first non-zero exit status (by worker index).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        failed_at = None
        while any(p.poll() is None for p in self.processes):
            now = time.monotonic()
            if failed_at is None and any(p.poll() not in (None, 0) for p in self.processes):
                failed_at = now
            if (deadline is not None and now > deadline) or \
                    (failed_at is not None and now - failed_at > grace_seconds):
                self.stop()
                break
            time.sleep(0.2)
        for thread in self._threads:
            thread.join(timeout=5)
        codes = [p.wait() for p in self.processes]
        return next((c for c in codes if c != 0), 0)

    def kill(self, index, sig=signal.SIGKILL):
        """Sends `sig` (default SIGKILL) to worker `index`."""
        self.processes[index].send_signal(sig)

    def stop(self):
        """Terminates every worker that still runs (SIGTERM, then SIGKILL after 10 s)."""
        for p in self.processes:
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + 10
        for p in self.processes:
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def launch_command(app_argv, num_workers, timeout=None):
    """`keras-seq workers N train APP ...`: runs the job on N local workers; exit status.

    Args:
        app_argv: the arguments after `keras-seq`, e.g. ["train", "imdb", "--epochs", "2"].
            `--strategy multi-worker` is added when no `--strategy` is given.
        num_workers: how many local worker processes.
        timeout: stop every worker after this many seconds.

    Returns:
        0 when every worker succeeded, else the first non-zero exit status.

    Raises:
        ValueError: `app_argv` is not a `train` command, or names another strategy.
    """
    app_argv = list(app_argv)
    if not app_argv or app_argv[0] != "train":
        raise ValueError(f"`keras-seq workers N` runs a `train APP ...` command, got "
                         f"{' '.join(app_argv) or 'nothing'!r}.")
    strategies = [a.split("=", 1)[1] if "=" in a else
                  (app_argv[i + 1] if i + 1 < len(app_argv) else "")
                  for i, a in enumerate(app_argv)
                  if a == "--strategy" or a.startswith("--strategy=")]
    if not strategies:
        app_argv += ["--strategy", "multi-worker"]
    elif strategies[-1] != "multi-worker":
        raise ValueError(f"`keras-seq workers N` needs --strategy multi-worker, got "
                         f"--strategy {strategies[-1]}.")
    launcher = LocalWorkerLauncher([sys.executable, "-m", "keras_seq.cli", *app_argv],
                                   num_workers)
    print(f"Starting {num_workers} workers on {', '.join(launcher.addresses)}: "
          f"keras-seq {' '.join(app_argv)}", flush=True)
    launcher.start()
    try:
        code = launcher.wait(timeout=timeout)
    except KeyboardInterrupt:
        launcher.stop()
        raise
    print(f"Workers finished with exit status {code}.", flush=True)
    return code
