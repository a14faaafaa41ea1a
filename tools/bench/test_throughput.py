"""Fast tests of issue 12's benchmark harness: variants, process-tree measurement, target checks,
the IR-derived bounds (on the real tiny.en IR set-up makes) and the one-command runner's plan.

    ~/.local/share/arcwhisper/venv/bin/python -m pytest tools/bench/test_throughput.py
"""

import json
import sys
import time
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bounds as B  # noqa: E402
import decoder_token_time as DT  # noqa: E402
import homevideo as HV  # noqa: E402
import hv_runners as runners  # noqa: E402
import proctree  # noqa: E402
import rtf as R  # noqa: E402
import throughput as TP  # noqa: E402
import variants as V  # noqa: E402
import worker_memory as WM  # noqa: E402
import worker_vad as WV  # noqa: E402

HELP = "Options:\n      --model <MODEL>\n      --batch-size <N>  windows decoded together\n      --vad\n"


# ---- variants ---------------------------------------------------------------------------------

def test_variant_spec_carries_args_model_suffix_and_env():
    v = V.parse("int8-b8:model=-int8;args=--batch-size 8 --no-fallback;env=A=1 ARCWHISPER_INFERENCE_PRECISION=f32")
    assert v.name == "int8-b8"
    assert v.args == ("--batch-size", "8", "--no-fallback")
    assert v.model("tiny.en") == "tiny.en-int8"
    assert v.env == {"A": "1", "ARCWHISPER_INFERENCE_PRECISION": "f32"}
    assert V.parse("plain").describe() == "default"
    before = V.parse("before:cmd=/opt/aw old/arcwhisper-transcribe --quiet;model=-int8")
    assert before.cmd == ("/opt/aw", "old/arcwhisper-transcribe", "--quiet")
    assert "cmd /opt/aw" in before.describe()


def test_a_variant_with_its_own_command_runs_that_command(monkeypatch, tmp_path):
    seen = {}

    def timed(argv, timeout_s, env=None):
        seen["argv"] = argv
        raise RuntimeError("stop here")

    monkeypatch.setattr(runners, "timed", timed)
    mode = runners.Mode("arcwhisper-vad+before", "arcwhisper", True, variant=V.parse("before:cmd=/old/aw"))
    with pytest.raises(RuntimeError, match="stop here"):
        runners.run_arcwhisper(["/new/aw"], [], mode, tmp_path / "a.wav", "tiny.en", 2, tmp_path / "a.srt", 60)
    assert seen["argv"][0] == "/old/aw" and "/new/aw" not in seen["argv"]
    said = []
    assert V.select([V.parse("gone:cmd=/no/such/aw")], HELP, ["tiny.en"], lambda _: None, said.append) == []
    assert "/no/such/aw" in said[0]


@pytest.mark.parametrize("spec, message", [
    ("b8:argz=--x", "unknown key"), ("b8:args", "not key=value"), ("bad name:args=--x", "name"),
    ("f32:env=NOVALUE", "KEY=VALUE"),
])
def test_bad_variant_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        V.parse(spec)


def test_variant_names_must_be_unique_and_the_default_set_is_issue_12s():
    with pytest.raises(ValueError, match="unique"):
        V.parse_all(["a:args=--x", "a:args=--y"])
    names = [v.name for v in V.parse_all(None)]
    assert names == ["batch1", "batch8", "int8", "f32", "bf16"]


def test_a_variant_is_skipped_with_one_line_when_its_flag_or_model_or_bf16_is_missing():
    have = {"tiny.en-int8"}
    model_dir = lambda name: Path("/m") / name if name in have else None  # noqa: E731
    vs = V.parse_all(["batch8:args=--batch-size 8", "vad2:args=--vad-threshold=0.6", "int8:model=-int8",
                      "bf16:env=ARCWHISPER_INFERENCE_PRECISION=bf16"])
    said = []
    keep = V.select(vs, HELP, ["tiny.en"], model_dir, said.append, cpu_caps=["FP32", "INT8"])
    assert [v.name for v in keep] == ["batch8", "int8"]
    assert len(said) == 2
    assert "--vad-threshold" in said[0] and "no BF16" in said[1]
    said.clear()
    assert [v.name for v in V.select(vs[2:3], HELP, ["tiny.en", "base"], model_dir, said.append)] == []
    assert "base-int8" in said[0]


def test_modes_name_variants_and_genai():
    known = {v.name: v for v in V.parse_all(["batch8:args=--batch-size 8"])}
    m = runners.parse_mode("arcwhisper-vad+batch8", known)
    assert (m.engine, m.vad, m.variant.args) == ("arcwhisper", True, ("--batch-size", "8"))
    assert "batch8" in runners.describe(m) and "--batch-size 8" in runners.describe(m)
    assert runners.parse_mode("arcwhisper-vad+old").variant.name == "old"   # from an earlier runs.json
    assert runners.parse_mode("genai").engine == "genai"
    assert runners.parse_mode("fw-int8-vad").compute == "int8"
    with pytest.raises(ValueError):
        runners.parse_mode("arcwhisper-vad+")


# ---- process-tree measurement -----------------------------------------------------------------

GRANDCHILD = ("import subprocess, sys; "
              "subprocess.run([sys.executable, '-c', "
              "'import time; b = bytearray(160 * 1024 * 1024); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(0.3)'], "
              "check=True); print('done')")


def test_peak_rss_is_the_grandchilds_and_cpu_time_counts_the_tree():
    m = proctree.run_measured([sys.executable, "-c", GRANDCHILD], timeout_s=60)
    assert m.returncode == 0 and m.stdout.strip() == "done"
    assert m.peak_rss_bytes >= 160 * 1024 * 1024      # the grandchild's high-water mark
    assert m.peak_tree_rss_bytes >= m.peak_rss_bytes  # both Pythons were alive together
    assert m.cpu_s > 0 and m.wall_s >= 0.3


def test_a_process_past_its_timeout_is_killed_with_its_children():
    with pytest.raises(RuntimeError, match="did not finish"):
        proctree.run_measured([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)


# ---- targets ----------------------------------------------------------------------------------

def hv_row(mode, process_s, start=0.3, in_speech=90.0, rss=400.0, model="tiny.en"):
    return {"model": model, "mode": mode, "engine": mode, "tracks": 5, "process_s": process_s,
            "median_start_error_s": start, "cue_in_speech_pct": in_speech, "peak_rss_mb": rss}


def test_home_video_speed_targets_compare_with_faster_whispers_fastest_mode():
    rows = [hv_row("fw-vad", 60.0, 3.0, 40.0), hv_row("fw-int8-batched", 30.0, 38.0, 40.0),
            hv_row("arcwhisper-vad", 14.0), hv_row("arcwhisper-vad+x", 20.0), hv_row("arcwhisper-novad", 31.0, 0.4, 95.0),
            hv_row("arcwhisper-vad+slowstart", 10.0, 40.0, 95.0)]
    assert HV.fastest_fw(rows, "tiny.en")["mode"] == "fw-int8-batched"
    fastest = HV.fastest_fw(rows, "tiny.en")
    assert HV.speed_misses(rows[2], fastest) == []
    assert HV.speed_misses(rows[3], fastest) == ["0.5x"]
    assert HV.speed_misses(rows[4], fastest) == ["must: faster"]
    assert HV.speed_misses(rows[5], fastest) == ["timing"]
    assert HV.speed_misses(rows[2], None) == ["n/a: no faster-whisper run"]


def test_clean_clip_rows_get_wer_ratios_and_targets():
    raw = []
    for engine, wall, text in (("arcwhisper", 1.0, "ask not what your country can do"),
                               ("genai", 1.2, "ask not what your country can do"),
                               ("fw-int8", 1.8, "ask what your country can do")):
        raw.append({"model": "tiny.en", "engine": engine, "audio_s": 10.0, "wall_s": wall, "language": "en",
                    "reference": "Ask not what your country can do.", "text": text, "peak_rss_bytes": 300e6})
    rows = {r["engine"]: r for r in R.summarize(raw, "tiny.en", ["arcwhisper", "genai", "fw-int8"])}
    assert rows["arcwhisper"]["wer"] == 0.0
    assert rows["fw-int8"]["wer"] == pytest.approx(100 / 7)
    assert rows["arcwhisper"]["vs_genai"] == pytest.approx(1 / 1.2)
    assert rows["arcwhisper"]["misses"] == ["0.5x fw-int8"]     # faster than GenAI, not half of int8
    assert rows["genai"]["misses"] is None                      # only arcwhisper rows are judged
    assert "| tiny.en | arcwhisper | 1 |" in R.table(list(rows.values()), {})


# ---- bounds from the IR -----------------------------------------------------------------------

def tiny_en_dir():
    d = V.find_model_dir("tiny.en")
    if d is None:
        pytest.skip("tiny.en is not converted here (tools/setup.sh)")
    return d


def test_decoder_bytes_per_token_are_the_per_token_weights_of_the_ir():
    import openvino as ov
    d = tiny_en_dir()
    cfg = json.loads((d / "config.json").read_text())
    dm, ff, layers, vocab = cfg["d_model"], cfg["decoder_ffn_dim"], cfg["decoder_layers"], cfg["vocab_size"]
    # output projection + per layer: self q,k,v,o; cross q,o (cross k,v are computed once per
    # window, in the state initialisers); the MLP. The token embedding is a Gather: one row.
    params = vocab * dm + layers * (6 * dm * dm + 2 * dm * ff)
    core = ov.Core()
    f32 = B.decoder_weight_bytes_per_token(core, d / "openvino_decoder_model.xml", "f32")
    bf16 = B.decoder_weight_bytes_per_token(core, d / "openvino_decoder_model.xml", "bf16")
    assert f32 == pytest.approx(4 * params, rel=0.01)   # biases and norms are the 1 %
    assert bf16 == pytest.approx(f32 / 2)


def test_encoder_flops_of_the_ir_match_the_transformer_formula():
    import openvino as ov
    d = tiny_en_dir()
    cfg = json.loads((d / "config.json").read_text())
    dm, n, mels = cfg["d_model"], B.N_AUDIO_CTX, cfg["num_mel_bins"]
    per_layer = 2 * n * (4 * dm * dm + 2 * dm * cfg["encoder_ffn_dim"]) + 4 * n * n * dm
    convs = 2 * 3000 * mels * 3 * dm + 2 * n * dm * 3 * dm
    expected = cfg["encoder_layers"] * per_layer + convs
    assert B.encoder_flops(ov.Core(), d / "openvino_encoder_model.xml", mels) == pytest.approx(expected, rel=0.01)


def test_window_calls_are_timed_on_one_request_and_the_first_costs_most():
    import numpy as np
    import openvino as ov
    d = tiny_en_dir()
    cfg = json.loads((d / "config.json").read_text())
    dec = ov.Core().compile_model(str(d / "openvino_decoder_model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    hidden = np.random.default_rng(0).standard_normal((1, 1500, cfg["d_model"])).astype(np.float32)
    t = DT.window_call_times(dec, hidden, cfg["decoder_start_token_id"], 4, np.random.default_rng(1))
    assert set(t) == {"first call (225)", "step", "alignment (86)"} and all(v > 0 for v in t.values())
    # the first call computes the cross-attention K/V and 225 positions; a step, one position
    assert t["first call (225)"] > 5 * t["step"]


def test_element_sizes_follow_the_runtime_precision():
    assert B.elem_bytes("f16", "f32") == 4 and B.elem_bytes("f16", "bf16") == 2
    assert B.elem_bytes("u8", "f32") == 1 and B.elem_bytes("u4", "bf16") == 0.5


# ---- the one command --------------------------------------------------------------------------

def test_one_command_plans_the_three_sections_and_passes_variants(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCWHISPER_BENCH_TMP", str(tmp_path))
    a = TP.parse_args(["--quick", "--variant", "b4:args=--batch-size 4", "--skip", "what,one,all"])
    cmds = dict(TP.section_cmds(a))
    assert list(cmds) == ["Clean clips (rtf.py)", "Home video (homevideo.py)"]
    hv = cmds["Home video (homevideo.py)"]
    assert "--variant=b4:args=--batch-size 4" in hv and hv[hv.index("--tracks") + 1] == "1"
    assert cmds["Clean clips (rtf.py)"][cmds["Clean clips (rtf.py)"].index("--models") + 1] == "tiny.en"


def quick_args_for(section: str, tmp_path, monkeypatch):
    """`throughput.py --quick` arguments that leave out every section but `section` (a --skip key)."""
    monkeypatch.setenv("ARCWHISPER_BENCH_TMP", str(tmp_path))
    others = sorted({"what", "clean", "home", "one", "all"} - {section})
    return TP.parse_args(["--quick", "--skip", ",".join(others)])


def test_the_one_core_section_pins_homevideo_to_one_cpu_with_one_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(TP, "one_cpu", lambda: 3)
    a = quick_args_for("one", tmp_path, monkeypatch)
    [(title, cmd)] = TP.section_cmds(a)
    assert title.startswith("One core each") and "taskset -c 3" in title
    assert cmd[:3] == ["taskset", "-c", "3"] and cmd[cmd.index("--threads") + 1] == "1"
    assert "arcwhisper-vad+int8" in cmd[cmd.index("--modes") + 1].split(",")
    assert TP.shown(cmd).startswith("taskset -c 3 homevideo.py --models tiny.en")
    monkeypatch.setattr(TP, "one_cpu", lambda: None)  # no taskset: the section is left out
    assert TP.section_cmds(a) == []


def test_the_all_cores_section_runs_a_one_thread_process_per_cpu_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(TP, "usable_cpus", lambda: 4)
    a = quick_args_for("all", tmp_path, monkeypatch)
    [(title, cmd)] = TP.section_cmds(a)
    assert title.startswith("All cores") and "--jobs 4" in title
    assert cmd[cmd.index("--jobs") + 1] == "4" and cmd[cmd.index("--threads") + 1] == "1"
    assert "fw-int8-batched" in cmd[cmd.index("--modes") + 1].split(",")
    monkeypatch.setattr(TP, "usable_cpus", lambda: 1)  # one CPU: the one-core section says it all
    assert TP.section_cmds(a) == []


def test_pooled_runs_are_timed_as_a_set_and_run_at_once(tmp_path, monkeypatch):
    """--jobs 2: a mode's tracks two at a time; its process time is the set's wall time."""
    running, most = [0], [0]

    def fake_runner(args, modes):
        def run(model, mode, track, wav):
            running[0] += 1
            most[0] = max(most[0], running[0])
            time.sleep(0.2)
            running[0] -= 1
            return {"model": model, "mode": mode.label, "track": track.name, "process_s": 0.2}
        return run

    monkeypatch.setattr(HV, "runner", fake_runner)
    args = HV.parse_args(["--jobs", "2", "--models", "tiny.en", "--out", str(tmp_path)])
    built = [(types.SimpleNamespace(name=f"t{i}"), tmp_path / f"t{i}.wav") for i in range(4)]
    modes = [HV.runners.parse_mode("arcwhisper-vad"), HV.runners.parse_mode("fw-int8-batched")]
    runs = HV.run_all(args, modes, built, tmp_path, [])
    assert len(runs) == 8 and most[0] == 2
    mine = [r for r in runs if r["mode"] == "arcwhisper-vad"]
    assert 0.35 < HV.process_seconds(mine) < 0.7          # two rounds of two, not 4 x 0.2 s
    assert HV.process_seconds([{"process_s": 1.0}, {"process_s": 2.0}]) == 3.0   # one at a time: summed


def test_load_sampler_summarises_what_it_saw():
    s = TP.LoadSampler(interval_s=0.01).start()
    s.stop()
    assert "samples" in s.summary() and "mean" in s.summary()


def test_worker_memory_reads_the_measure_tests_lines():
    out = ("running 1 test\nmodel\tweights_B\tjson_need_B\tformula_B\trss_ready_B\thwm_after_decode_B\tseconds\n"
           "tiny.en\t75500000\t417000000\t417000000\t122000000\t413000000\t9.5\ntest ... ok\n")
    rows = WM.parse_tsv(out)
    assert rows == [{"model": "tiny.en", "weights_b": 75500000, "need_b": 417000000, "rss_ready_b": 122000000,
                     "hwm_b": 413000000, "seconds": 9.5, "baseline_b": 0, "rss_after_b": 0}]
    assert "| tiny.en | default | 75.5 | 122 | 413 |  |  |  |  | 413 |" in WM.table([("default", rows[0])])


def test_worker_memory_reports_growth_over_the_runtime_only_baseline():
    out = ("tiny.en-int8\t41666324\t477497635\t477497635\t122642432\t441270272\t5.4\t45641728\t431270272\n")
    rows = WM.parse_tsv(out)
    assert rows[0]["baseline_b"] == 45641728 and rows[0]["rss_after_b"] == 431270272
    # after 431 - 46 = 386 MB, peak 441 - 46 = 396 MB, against tiny.en's 413 MB
    assert "| tiny.en-int8 | default | 41.7 | 123 | 441 | 431 | 46 | 386 | 396 | 413 |" in WM.table([("default", rows[0])])


def test_worker_memory_measures_batch_size_variants_through_the_measure_test(monkeypatch):
    assert WM.batch_size(("--batch-size", "8")) == 8 and WM.batch_size(("--batch-size=4",)) == 4
    assert WM.batch_size(("--no-vad",)) is None and WM.batch_size(("--batch-size", "8", "--no-vad")) is None
    seen = []
    monkeypatch.setattr(WM, "measure", lambda models, repeat, env: seen.append(env) or [])
    monkeypatch.setattr(WM.V, "cpu_capabilities", lambda: "")
    WM.main(["--models", "no-such-model", "--variant", "batch8:args=--batch-size 8",
             "--variant", "f32dec:env=ARCWHISPER_DECODER_PRECISION=f32", "--variant", "nv:args=--no-vad"])
    # default, the vad row at batch 1 to compare with, batch 8, the env variant; --no-vad is not measurable
    assert seen == [{}, {"AW_MEASURE_BATCH_SIZE": "1"}, {"AW_MEASURE_BATCH_SIZE": "8"},
                    {"ARCWHISPER_DECODER_PRECISION": "f32"}]


# ---- the worker's VAD thread ------------------------------------------------------------------

def test_the_workers_vad_thread_gives_the_same_srt_and_serves_every_block(tmp_path):
    """Two real gst-launch pipelines per mode on JFK after 20 s of room noise: with the thread
    (the default) the stream reads every VAD block from it, without it none, and the SRTs match."""
    import numpy as np
    import hv_tracks as T
    from common import SPEECH, read_wav, to_wav16k
    jfk = read_wav(to_wav16k(SPEECH / "jfk" / "jfk.flac", tmp_path))
    noise, _ = T.room_noise(np.random.default_rng(5), 16_000 * 20 + len(jfk), -45.0)
    track = tmp_path / "noise_then_jfk.wav"
    T.write_wav(track, noise + np.concatenate([np.zeros(16_000 * 20, np.float32), jfk]))
    s = WV.main([str(track), "--rounds", "1", "--model", "tiny.en", "--out", str(tmp_path / "runs")])
    blocks = -(-len(noise) // (64 * 512))
    assert s["same_srt"]
    assert s["modes"]["thread"]["blocks_ahead"] == blocks
    assert s["modes"]["inline"]["blocks_ahead"] == 0
    srt = (tmp_path / "runs" / "noise_then_jfk.thread.srt").read_text()
    assert "country" in srt and srt.startswith("1\n00:00:2"), srt


def test_the_report_goes_into_a_folder_that_does_not_exist_yet(tmp_path):
    out = tmp_path / "new" / "deeper" / "throughput.md"
    TP.write(out, "# report\n")
    TP.write(out, "# report, a section more\n")
    assert out.read_text() == "# report, a section more\n"
    assert [p.name for p in out.parent.iterdir()] == ["throughput.md"]
