import pytest

from keras_seq import runtime


def test_cpu_defaults_follow_measurements(monkeypatch):
    monkeypatch.delenv("KERAS_SEQ_JIT", raising=False)
    monkeypatch.setattr(runtime, "has_accelerator", lambda: False)
    assert runtime.default_jit_compile("train") is False
    assert runtime.default_jit_compile("inference") is True


def test_accelerator_defaults_to_xla(monkeypatch):
    monkeypatch.delenv("KERAS_SEQ_JIT", raising=False)
    monkeypatch.setattr(runtime, "has_accelerator", lambda: True)
    assert runtime.default_jit_compile("train") is True


def test_env_override_and_bad_purpose(monkeypatch):
    monkeypatch.setenv("KERAS_SEQ_JIT", "1")
    assert runtime.default_jit_compile("train") is True
    monkeypatch.setenv("KERAS_SEQ_JIT", "off")
    assert runtime.default_jit_compile("inference") is False
    with pytest.raises(ValueError, match="purpose"):
        runtime.default_jit_compile("serve")


def test_training_under_a_multi_replica_strategy_is_not_xla_compiled(monkeypatch):
    import keras_seq.distribution.training_cluster as clusters

    class TwoReplicas:
        num_replicas = 2

    monkeypatch.delenv("KERAS_SEQ_JIT", raising=False)
    monkeypatch.setattr(runtime, "has_accelerator", lambda: True)  # even on a GPU
    monkeypatch.setattr(clusters, "_ACTIVE", TwoReplicas())
    assert runtime.default_jit_compile("train") is False
    assert runtime.default_jit_compile("inference") is True  # decode loops stay compiled
