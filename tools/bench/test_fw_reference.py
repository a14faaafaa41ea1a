"""fw_reference.py: faster-whisper's reference texts are reused only for the same inputs."""

import fw_reference as R


def inputs(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "model.bin").write_bytes(b"\x01" * 1000)
    (weights / "config.json").write_text("{}")
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF" + b"\x00" * 100)
    return weights, {"clips/a.wav": wav}


def test_the_key_changes_with_weights_samples_threads_and_versions(tmp_path):
    weights, wavs = inputs(tmp_path)
    key = R.cache_key("fw 1", weights, 2, wavs)
    assert R.cache_key("fw 1", weights, 2, wavs) == key
    assert R.cache_key("fw 2", weights, 2, wavs) != key
    assert R.cache_key("fw 1", weights, 1, wavs) != key
    (weights / "model.bin").write_bytes(b"\x02" * 1000)
    changed_weights = R.cache_key("fw 1", weights, 2, wavs)
    assert changed_weights != key
    wavs["clips/a.wav"].write_bytes(b"RIFF" + b"\x01" * 100)
    assert R.cache_key("fw 1", weights, 2, wavs) != changed_weights


def test_texts_are_computed_once_then_read_back(tmp_path, monkeypatch):
    monkeypatch.delenv("ARCWHISPER_FW_CACHE", raising=False)
    calls = []

    def compute():
        calls.append(1)
        return {"clips/a.wav": "And so, my fellow Americans"}

    first = R.cached_texts("k1", compute, tmp_path)
    again = R.cached_texts("k1", compute, tmp_path)
    assert first == again == {"clips/a.wav": "And so, my fellow Americans"}
    assert len(calls) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["k1.json"]


def test_a_damaged_file_is_computed_again_and_the_switch_turns_the_cache_off(tmp_path, monkeypatch):
    (tmp_path / "k2.json").write_text("{not json")
    assert R.cached_texts("k2", lambda: {"x": "y"}, tmp_path) == {"x": "y"}
    assert R.cached_texts("k2", lambda: {"x": "other"}, tmp_path) == {"x": "y"}
    monkeypatch.setenv("ARCWHISPER_FW_CACHE", "0")
    assert R.cached_texts("k2", lambda: {"x": "fresh"}, tmp_path) == {"x": "fresh"}
