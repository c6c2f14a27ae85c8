"""fp4train.train: the training loop, its log, checkpoints, resume and CLI."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fp4train as ft
from fp4train import train
from fp4train.checkpoint import CheckpointError, load_checkpoint

# Small and fast: the tiny model, 4 x 32 tokens per step (a multiple of 64,
# as the Hadamard recipes along tokens need).
FAST = dict(model="tiny", batch_size=4, seq_len=32, eval_batches=2, progress=False)
TRAJECTORY = ("step", "tokens", "train_loss", "lr", "grad_norm", "val_loss", "noise", "event")


def read_log(out):
    with open(os.path.join(out, "log.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def trajectory(records):
    return [{k: r.get(k) for k in TRAJECTORY} for r in records]


def test_thirty_steps_reduce_the_loss(tmp_path):
    s = train.run("fp32", 30, out=tmp_path, lr=1e-2, eval_interval=10, **FAST)
    log = read_log(tmp_path)
    assert s["status"] == "completed" and s["steps"] == 30 and s["tokens"] == 30 * 128
    assert [r["step"] for r in log] == list(range(31))
    losses = [r["train_loss"] for r in log[1:]]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.3
    vals = [r["val_loss"] for r in log if "val_loss" in r]
    assert [r["step"] for r in log if "val_loss" in r] == [0, 10, 20, 30]
    assert vals[-1] < vals[0] - 0.3
    # byte-level model at init: close to uniform over 256 ids
    assert abs(vals[0] - np.log(256)) < 0.3
    assert s["final_val_loss"] == vals[-1] and s["best_val_loss"] == min(vals)
    with open(tmp_path / "summary.json") as f:
        assert json.load(f)["final_val_loss"] == vals[-1]
    lrs = [r["lr"] for r in log[1:]]
    assert max(lrs) == pytest.approx(1e-2) and lrs[-1] < lrs[len(lrs) // 2]


def test_quantized_recipe_trains_too(tmp_path):
    s = train.run("mxfp4_all", 30, out=None, lr=1e-2, eval_interval=30, **FAST)
    assert s["status"] == "completed"
    assert s["final_val_loss"] < np.log(256) - 0.3


@pytest.mark.parametrize("recipe", ["nvfp4_rtn_fwd_sr_bwd", "mxfp4_all_rht16_per_step"])
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, recipe):
    """Stochastic rounding and per-step Hadamard keys depend on the step counters."""
    common = dict(FAST, eval_interval=3, checkpoint_interval=4, noise_every=5)
    whole = tmp_path / "whole"
    train.run(recipe, 12, out=whole, **common)

    part = tmp_path / "part"

    def stop_at_7(rec):
        if rec["step"] == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.run(recipe, 12, out=part, callback=stop_at_7, **common)
    assert load_checkpoint(part)[0] == 4  # the last checkpoint before the interruption
    s = train.run(None, 12, resume=part, **{k: v for k, v in common.items()
                                            if k not in ("model", "batch_size", "seq_len")})
    assert s["steps"] == 12
    assert trajectory(read_log(part)) == trajectory(read_log(whole))
    assert any("noise" in r for r in read_log(part))
    # Running to a step already reached trains nothing more.
    again = train.run(None, 12, resume=part, progress=False)
    assert again["steps"] == 12 and trajectory(read_log(part)) == trajectory(read_log(whole))


def test_results_do_not_depend_on_the_thread_count():
    runs = []
    for n in (1, 2):
        s = train.run("nvfp4_2d_rht16", 4, out=None, threads=n, eval_interval=2, **FAST)
        runs.append((s["final_val_loss"], s["final_train_loss"]))
    ft.set_num_threads(2)
    assert runs[0] == runs[1]


@pytest.mark.skipif("blas" not in ft.float_gemm_backends(), reason="no BLAS library found")
def test_float_gemm_backend_is_part_of_the_run(tmp_path):
    before = ft.get_float_gemm()
    s = train.run("fp32", 3, out=tmp_path, float_gemm="blas", eval_interval=3, **FAST)
    assert ft.get_float_gemm() == before  # restored
    assert s["config"]["float_gemm"] == "blas"
    exact = train.run("fp32", 3, out=None, eval_interval=3, **FAST)
    assert exact["config"]["float_gemm"] == "exact"
    # the sum order differs, so the losses do too (slightly)
    assert s["final_val_loss"] == pytest.approx(exact["final_val_loss"], rel=1e-3)
    with pytest.raises(ValueError, match="argument 'float_gemm'"):
        train.run(None, 5, resume=tmp_path, float_gemm="exact", progress=False)
    with pytest.raises(ValueError, match="argument 'float_gemm'"):
        train.run("fp32", 3, float_gemm="fast", **FAST)


def _checkpointed(tmp_path):
    out = tmp_path / "run"
    train.run("mxfp4_all", 4, out=out, eval_interval=2, **FAST)
    return out


def _npz(out):
    with open(out / "checkpoint.json") as f:
        return out / json.load(f)["file"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "missing"])
def test_damaged_checkpoint_is_refused(tmp_path, damage):
    out = _checkpointed(tmp_path)
    npz = _npz(out)
    log_before = (out / "log.jsonl").read_bytes()
    if damage == "flip":
        data = bytearray(npz.read_bytes())
        data[len(data) // 2] ^= 0x10
        npz.write_bytes(bytes(data))
    elif damage == "truncate":
        npz.write_bytes(npz.read_bytes()[:-100])
    elif damage == "manifest":
        (out / "checkpoint.json").write_text("{ not json")
    else:
        npz.unlink()
    with pytest.raises(CheckpointError):
        train.run(None, 8, resume=out, progress=False)
    assert (out / "log.jsonl").read_bytes() == log_before  # nothing touched


def test_resume_refuses_other_settings(tmp_path):
    out = _checkpointed(tmp_path)
    with pytest.raises(ValueError, match="argument 'model'"):
        train.run(None, 8, resume=out, model="small", progress=False)
    with pytest.raises(ValueError, match="argument 'recipe'"):
        train.run("fp32", 8, resume=out, progress=False)
    with pytest.raises(ValueError, match="argument 'lr'"):
        train.run(None, 8, resume=out, lr=0.5, progress=False)
    with pytest.raises(CheckpointError, match="argument 'resume'"):
        train.run(None, 8, resume=tmp_path / "nothing", progress=False)
    # The same settings, given explicitly, are accepted.
    s = train.run("mxfp4_all", 6, resume=out, model="tiny", batch_size=4, seq_len=32,
                  progress=False, eval_batches=2)
    assert s["steps"] == 6


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "nan"
    s = train.run("fp32", 40, out=out, lr=1e4, grad_clip=0, warmup=0, eval_interval=1,
                  **FAST)
    assert s["status"] == "non_finite"
    assert s["message"] in capsys.readouterr().err
    bad = int(re.search(r"non-finite (?:at|after) step (\d+)", s["message"]).group(1))
    step, arrays, _ = load_checkpoint(out)
    assert step < bad and f"checkpoint (step {step})" in s["message"]
    assert all(np.isfinite(v).all() for k, v in arrays.items() if v.dtype.kind == "f")
    assert read_log(out)[-1]["event"].startswith("non-finite")


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="argument 'recipe'"):
        train.run("no_such_recipe", 3, **FAST)
    with pytest.raises(ValueError, match="argument 'steps'"):
        train.run("fp32", 0, **FAST)
    with pytest.raises(FileNotFoundError, match="argument 'data'"):
        train.run("fp32", 3, data=tmp_path / "missing.txt", **FAST)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="argument 'data'"):
        train.run("fp32", 3, data=tmp_path / "empty.txt", **FAST)
    (tmp_path / "short.txt").write_text("only a few bytes of text\n" * 2)
    with pytest.raises(ValueError, match="argument 'seq_len'"):
        train.run("fp32", 3, data=tmp_path / "short.txt", **FAST)
    with pytest.raises(ValueError, match="argument 'seq_len'"):
        train.run("fp32", 3, model="tiny", seq_len=100000, progress=False)
    with pytest.raises(ValueError, match="first_k"):
        train.run("fp32", 3, first_k=5, last_k=5, **FAST)


def test_data_file_any_bytes(tmp_path):
    text = ("The quick brown fox jumps over the lazy dog. " * 400).encode()
    (tmp_path / "t.txt").write_bytes(text + bytes([0xff, 0xfe]) * 10)
    with pytest.warns(UserWarning, match="not valid UTF-8"):
        s = train.run("bf16", 3, data=tmp_path / "t.txt", out=None, **FAST)
    assert s["status"] == "completed"


def test_policy_switch_and_noise_monitor_are_logged(tmp_path):
    s = train.run("mxfp4_all", 6, out=tmp_path, switch_step=3, switch_part="backward",
                  noise_every=2, first_k=1, eval_interval=3, **FAST)
    log = read_log(tmp_path)
    events = [r for r in log if "event" in r]
    # block 0 is bf16 from the start (first_k=1); the switch shows at step index 3
    assert [r["step"] for r in events] == [4]
    assert "mxfp4_all" in events[0]["event"]         # the switched blocks' recipe ...
    assert "'mxfp4_all'" not in events[0]["event"]   # ... is no longer plain mxfp4_all
    noise = [r for r in log if "noise" in r]
    assert [r["step"] for r in noise] == [1, 3, 5]
    for r in noise[:2]:  # before the switch: the quantized block 1's seven Linears
        assert len(r["noise"]["r"]) == 7
        assert all(v == "inf" or v > 0 for v in r["noise"]["r"].values())
    assert noise[2]["noise"]["r"] == {}  # after it, no layer has a quantized wgrad
    assert s["policy"]["switch_step"] == 3


def test_profile_reports_shares(tmp_path):
    s = train.run("mxfp4_all", 3, out=tmp_path, profile=True, **FAST)
    cats = s["profile"]["categories"]
    assert sum(c["share"] for c in cats.values()) == pytest.approx(1.0)
    assert all(c["ms_per_step"] >= 0 for c in cats.values())
    assert os.path.exists(tmp_path / "profile.json")


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(ft.__file__)))
    return subprocess.run([sys.executable, "-m", "fp4train.train", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_command_line(tmp_path):
    out = str(tmp_path / "cli")
    r = _cli("--recipe", "mxfp4_all", "--steps", "3", "--model", "tiny", "--batch-size", "4",
             "--seq-len", "32", "--eval-batches", "1", "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "completed: recipe mxfp4_all, 3 steps" in r.stdout
    assert {"log.jsonl", "summary.json", "checkpoint.json"} <= set(os.listdir(out))
    r = _cli("--resume", out, "--steps", "5", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert read_log(out)[-1]["step"] == 5
    r = _cli("--recipe", "nope", "--steps", "3", "--out", out + "2", "--no-progress")
    assert r.returncode == 2 and "argument 'recipe'" in r.stderr
