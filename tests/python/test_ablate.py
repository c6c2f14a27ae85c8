"""fp4train.ablate: suites, token cost, result files, resumability, CLI.

Most tests replace the trainer (``ablate._train_run``) by a fake that writes
log.jsonl / summary.json with synthetic validation curves, so the table
figures can be checked against an independent computation (numpy
interpolation, dense sampling); one smoke test trains the tiny model for real.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import fp4train as ft
from fp4train import ablate
from fp4train.recipes import GEMMS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
B, S = 4, 8          # fake batch: tokens per step = 32
T_SCALE = 300.0      # token scale of the synthetic curves


# --------------------------------------------------------------------------
# the fake trainer
# --------------------------------------------------------------------------

def _curve_for(name):
    """Synthetic validation loss of recipe ``name`` at ``t`` tokens (NaN: diverged)."""
    offsets = {"fp32": 0.0, "bf16": 0.0, "mxfp4_all": 0.05, "nvfp4_2d_rht16": 0.01,
               "fp8": -0.02}
    if name == "mxfp4_all_sr_wgrad":  # diverges after 200 tokens
        return lambda t: math.nan if t > 200 else 2.0 + 3.0 * math.exp(-t / T_SCALE)
    if name == "mxfp4_fprop":         # slower: same floor, half the speed
        return lambda t: 2.0 + 3.0 * math.exp(-t / (2 * T_SCALE))
    off = offsets.get(name, 0.03)
    return lambda t: 2.0 + off + 3.0 * math.exp(-t / T_SCALE)


class FakeTrainer:
    """Stands in for fp4train.train.run, following its contract: log.jsonl lines with
    step/tokens/train_loss (+ val_loss on evaluations, the first at step 0), summary.json,
    resume=DIR continues from the last logged step."""

    def __init__(self, eval_interval=5, interrupt=None, fail=()):
        self.calls = []
        self.eval_interval = eval_interval
        self.interrupt = dict(interrupt or {})  # label -> step at which Ctrl-C hits
        self.fail = set(fail)

    def __call__(self, recipe, steps, seed=0, out=None, resume=None, model="small",
                 progress=True, batch_size=B, seq_len=S, **kw):
        name = recipe if isinstance(recipe, str) else recipe.name
        self.calls.append(dict(name=name, steps=steps, seed=seed, out=out, resume=resume,
                               model=model, progress=progress, batch_size=batch_size,
                               seq_len=seq_len, **kw))
        if name in self.fail:
            raise RuntimeError(f"fake failure of {name}")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        log = out / "log.jsonl"
        start = 0
        if resume is not None:
            assert Path(resume) == out and (out / "checkpoint.json").exists()
            start = json.loads((out / "checkpoint.json").read_text())["step"] + 1
        else:
            assert not (out / "checkpoint.json").exists(), "a fresh run over a checkpoint"
            log.write_text("")
        f = _curve_for(name)
        status = "completed"
        with open(log, "a") as fh:
            for step in range(start, steps + 1):
                if self.interrupt.get(name) == step:
                    self.interrupt.pop(name)
                    raise KeyboardInterrupt
                t = step * batch_size * seq_len
                rec = {"step": step, "tokens": t, "train_loss": f(t) + 0.1, "lr": 1e-3}
                if step % self.eval_interval == 0 or step == steps:
                    rec["val_loss"] = f(t)
                if not math.isfinite(f(t)):   # as train.run: no evaluation, no checkpoint
                    fh.write(json.dumps({"step": step, "tokens": t, "train_loss": None}) + "\n")
                    status = "non_finite"
                    break
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                (out / "checkpoint.json").write_text(json.dumps({"step": step}))
        evals = [json.loads(ln) for ln in log.read_text().splitlines()]
        evals = [r["val_loss"] for r in evals if r.get("val_loss") is not None]
        summary = {"recipe": name, "steps": step, "tokens": step * batch_size * seq_len,
                   "final_val_loss": evals[-1],   # the last evaluation, as train.run
                   "final_train_loss": f(step * batch_size * seq_len) + 0.1,
                   "tokens_per_s": 1000.0 + len(name), "wall_s": 1.5, "status": status}
        (out / "summary.json").write_text(json.dumps(summary))
        return summary


@pytest.fixture
def fake(monkeypatch):
    trainer = FakeTrainer()
    monkeypatch.setattr(ablate, "_train_run", trainer)
    return trainer


def _eval_points(name, steps, every=5):
    f = _curve_for(name)
    idx = [s for s in range(steps + 1) if s % every == 0 or s == steps]
    t = np.array([s * B * S for s in idx], dtype=np.float64)
    return t, np.array([f(x) for x in t])


# --------------------------------------------------------------------------
# tokens_to_reach
# --------------------------------------------------------------------------

def test_tokens_to_reach_interpolates_linearly():
    assert ablate.tokens_to_reach([0, 100, 200], [5.0, 3.0, 1.0], 2.0) == pytest.approx(150.0)
    assert ablate.tokens_to_reach([0, 100, 200], [5.0, 3.0, 1.0], 3.0) == 100.0   # on a point
    assert ablate.tokens_to_reach([0, 100, 200], [5.0, 3.0, 1.0], 9.0) == 0.0     # from the start
    assert ablate.tokens_to_reach([0, 100, 200], [5.0, 3.0, 1.0], 0.5) is None
    assert ablate.tokens_to_reach([], [], 1.0) is None


def test_tokens_to_reach_first_crossing_and_nan():
    # Non-monotone: the first crossing counts, not the last.
    assert ablate.tokens_to_reach([0, 10, 20, 30], [4, 1, 5, 0], 2.0) == pytest.approx(20 / 3)
    # A NaN neighbour is not interpolated through: the finite point's tokens count.
    assert ablate.tokens_to_reach([0, 10, 20], [4, math.nan, 1.0], 2.0) == 20.0
    assert ablate.tokens_to_reach([0, 10, 20], [4, math.inf, math.nan], 2.0) is None


@pytest.mark.parametrize("seed", range(5))
def test_tokens_to_reach_matches_dense_sampling(seed):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(1, 50, 12))
    v = 3 + np.cumsum(rng.normal(-0.2, 0.5, 12))
    target = float(np.quantile(v, 0.3))
    got = ablate.tokens_to_reach(t, v, target)
    dense_t = np.concatenate([np.linspace(t[i], t[i + 1], 20001) for i in range(len(t) - 1)])
    dense_v = np.interp(dense_t, t, v)
    first = dense_t[np.argmax(dense_v <= target)]
    assert got == pytest.approx(first, abs=(t[-1] - t[0]) / 20000 * 2)


# --------------------------------------------------------------------------
# suites
# --------------------------------------------------------------------------

def test_suites_match_the_issue():
    assert set(ablate.SUITES) == {"demo", "staging", "papers", "hadamard", "formats"}
    assert set(ablate.SUITE_DESCRIPTIONS) == set(ablate.SUITES)
    staging, base = ablate.SUITES["staging"]
    assert base == "fp32" and staging == [
        "fp32", "bf16", "fp8", "mxfp4_fprop", "mxfp4_fprop_dgrad", "mxfp4_all", "mxfp4_all_h16",
        "mxfp4_all_rht16_per_step", "mxfp4_all_sr_wgrad"]
    assert ablate.SUITES["papers"] == (["bf16", "mxfp4_bwd_rht_sr", "mxfp4_all_h16",
                                        "nvfp4_rtn_fwd_sr_bwd", "nvfp4_2d_rht16"], "bf16")
    assert ablate.SUITES["demo"] == (["fp32", "mxfp4_all", "nvfp4_2d_rht16"], "fp32")
    for name in ablate.SUITES:
        entries, base = ablate.suite_entries(name)
        assert entries[0][0] == base
        for label, recipe in entries:
            r = ft.recipes.get(recipe) if isinstance(recipe, str) else recipe
            assert ft.Recipe.from_json(r.to_json()) == r


def test_hadamard_suite_changes_only_the_wgrad_transform():
    entries, base = ablate.suite_entries("hadamard")
    assert base == "bf16" and [e[0] for e in entries[:2]] == ["bf16", "mxfp4_all"]
    ref = ft.recipes.get("mxfp4_all")
    seen = set()
    for label, r in entries[2:]:
        h = r.wgrad.hadamard
        seen.add((h.size, h.signs))
        assert label == f"mxfp4_all_wgrad_h{h.size}_{h.signs}" and r.name == label
        assert r.fprop == ref.fprop and r.dgrad == ref.dgrad
        assert r.wgrad.a == ref.wgrad.a and r.wgrad.b == ref.wgrad.b
    assert seen == {(s, p) for s in (16, 32, 64, 128) for p in ("none", "fixed", "per_step")}
    assert len(entries) == 14


def test_formats_suite_scale_rules_and_nvfp4():
    entries, base = ablate.suite_entries("formats")
    assert base == "bf16"
    by = dict(entries)
    for rule in ("floor", "rceil", "even"):
        r = by[f"mxfp4_all_{rule}"]
        ops = [getattr(getattr(r, g), o) for g in GEMMS for o in "ab"]
        assert all(op.format == "mxfp4" and op.scale_rule == rule and
                   op.rounding == "nearest" for op in ops)
    assert by["mxfp4_all_floor"].replace(name="mxfp4_all") == ft.recipes.get("mxfp4_all")
    nv = by["nvfp4_all"]
    assert all(getattr(getattr(nv, g), o).format == "nvfp4" for g in GEMMS for o in "ab")
    assert all(getattr(nv, g).hadamard is None for g in GEMMS)


def test_suite_entries_subset_custom_and_errors():
    entries, base = ablate.suite_entries("staging", recipes="mxfp4_all, bf16")
    assert [e[0] for e in entries] == ["fp32", "bf16", "mxfp4_all"]   # baseline kept, first
    entries, base = ablate.suite_entries(["bf16", ("mine", ft.recipes.get("mxfp4_all"))])
    assert base == "bf16" and entries[1][1].name == "mine"
    with pytest.raises(ValueError, match=r"argument 'suite': expected one of demo, staging, "
                                         r"papers, hadamard, formats, got 'nope'"):
        ablate.suite_entries("nope")
    with pytest.raises(ValueError, match=r"argument 'recipes': unknown label\(s\) fp64 "
                                         r"\(this suite has: fp32, mxfp4_all"):
        ablate.suite_entries("demo", recipes="fp64")
    with pytest.raises(ValueError, match="argument 'baseline'"):
        ablate.suite_entries("demo", baseline="bf16")
    with pytest.raises(ValueError, match="argument 'suite': expected distinct labels"):
        ablate.suite_entries(["bf16", "bf16"])
    with pytest.raises(ValueError, match="argument 'suite': expected labels"):
        ablate.suite_entries([("a/b", ft.recipes.get("bf16"))])
    with pytest.raises(TypeError, match="argument 'suite'"):
        ablate.suite_entries(3)
    with pytest.raises(ValueError, match="argument 'name'"):   # unknown preset
        ablate.suite_entries(["bf16", "mxfp5"])


# --------------------------------------------------------------------------
# run() with the fake trainer
# --------------------------------------------------------------------------

STEPS = 40


def _run(tmp_path, fake, suite="staging", **kw):
    kw.setdefault("batch_size", B)
    kw.setdefault("seq_len", S)
    return ablate.run(suite, STEPS, tmp_path / "abl", model="tiny", progress=False, **kw)


def test_run_table_numbers_against_independent_reference(tmp_path, fake):
    res = _run(tmp_path, fake, recipes="fp8,mxfp4_all,mxfp4_fprop,mxfp4_all_sr_wgrad")
    assert [c["name"] for c in fake.calls] == ["fp32", "fp8", "mxfp4_fprop", "mxfp4_all",
                                               "mxfp4_all_sr_wgrad"]
    # identical data, seed and settings for every run; only the recipe differs
    for c in fake.calls:
        assert (c["seed"], c["model"], c["batch_size"], c["steps"], c["resume"]) == \
            (0, "tiny", B, STEPS, None)
        assert c["seq_len"] == S and Path(c["out"]) == tmp_path / "abl" / "runs" / c["name"]
    rows = {r["label"]: r for r in res["rows"]}
    bt, bv = _eval_points("fp32", STEPS)
    target, total = bv[-1], bt[-1]
    assert res["baseline"] == "fp32" and rows["fp32"]["baseline"]
    for name in ("fp8", "mxfp4_all", "mxfp4_fprop"):
        t, v = _eval_points(name, STEPS)
        r = rows[name]
        assert r["final_val_loss"] == pytest.approx(v[-1], rel=1e-12)
        assert r["gap_pct"] == pytest.approx(100 * (v[-1] - target) / target, rel=1e-9)
        assert r["tokens_per_s"] == 1000.0 + len(name)
        if v.min() <= target:
            t_hit = np.interp(target, v[::-1], t[::-1])   # curves decrease monotonically
            assert r["reached_baseline"] and r["tokens_to_baseline"] == pytest.approx(t_hit)
            assert r["token_cost_pct"] == pytest.approx(100 * (t_hit / total - 1))
        else:
            assert not r["reached_baseline"] and r["token_cost_pct"] is None
    assert rows["fp8"]["token_cost_pct"] < 0 < rows["fp8"]["gap_pct"] + 1   # lower curve: sooner
    assert rows["mxfp4_all"]["token_cost_pct"] is None          # offset floor: never reaches
    assert rows["mxfp4_fprop"]["token_cost_pct"] is None        # half speed within the budget
    assert rows["mxfp4_all_sr_wgrad"]["stopped_early"]
    assert rows["mxfp4_all_sr_wgrad"]["status"] == "non_finite"

    table = res["table"]
    line = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
            for ln in table.splitlines()[2:]}
    assert line["fp32"][1:3] == ["baseline", "baseline"]
    assert line["mxfp4_all"][2] == "not reached"
    assert line["fp8"][0] == f"{rows['fp8']['final_val_loss']:.4f}"
    assert line["fp8"][1] == f"{rows['fp8']['gap_pct']:+.2f}%"
    assert line["fp8"][2] == f"{rows['fp8']['token_cost_pct']:+.2f}%"
    last = _curve_for("mxfp4_all_sr_wgrad")(5 * B * S)   # its last evaluation (step 5)
    assert line["mxfp4_all_sr_wgrad"] == [f"{last:.4f} (stopped early)", "—", "—", "1,018"]


def test_run_writes_markdown_json_and_png(tmp_path, fake):
    res = _run(tmp_path, fake, suite="demo", lr=2e-3)
    out = tmp_path / "abl"
    assert res["markdown"] == out / "results.md" and res["plot"] == out / "val_loss.png"
    md = res["markdown"].read_text()
    assert "suite `demo`" in md and "model: tiny" in md and f"steps: {STEPS}" in md
    assert f"tokens per run: {STEPS * B * S:,}" in md and "seed: 0" in md
    assert "fp4train.ablate.run('demo', steps=40" in md and "lr=0.002" in md
    assert res["table"] in md
    png = res["plot"].read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 5000
    doc = json.loads(res["json"].read_text())
    assert doc["suite"] == "demo" and doc["baseline"] == "fp32" and doc["steps"] == STEPS
    assert doc["train_kwargs"] == {"batch_size": B, "seq_len": S, "lr": 2e-3}
    assert [r["label"] for r in doc["rows"]] == ["fp32", "mxfp4_all", "nvfp4_2d_rht16"]
    for r in doc["rows"]:
        t, v = _eval_points(r["label"], STEPS)
        np.testing.assert_allclose(r["curve"]["tokens"], t)
        np.testing.assert_allclose(r["curve"]["val_loss"], v, rtol=1e-12)
        assert len(r["train_curve"]["train_loss"]) == STEPS + 1
        assert r["summary"]["status"] == "completed"
    assert doc["baseline_final_val_loss"] == pytest.approx(_eval_points("fp32", STEPS)[1][-1])
    # every recipe is saved and loads back
    for label, _ in ablate.suite_entries("demo")[0]:
        r = ft.Recipe.load(out / "recipes" / f"{label}.json")
        assert r.describe() == ft.recipes.get(label).describe()


def test_rerun_skips_finished_and_resumes_interrupted(tmp_path, monkeypatch):
    trainer = FakeTrainer(interrupt={"mxfp4_all": 17})
    monkeypatch.setattr(ablate, "_train_run", trainer)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, trainer, suite="demo")
    assert [c["name"] for c in trainer.calls] == ["fp32", "mxfp4_all"]
    trainer.calls.clear()
    res = _run(tmp_path, trainer, suite="demo")
    runs = tmp_path / "abl" / "runs"
    assert [(c["name"], c["resume"]) for c in trainer.calls] == [
        ("mxfp4_all", str(runs / "mxfp4_all")), ("nvfp4_2d_rht16", None)]
    # the resumed curve is the uninterrupted one
    t, v = _eval_points("mxfp4_all", STEPS)
    row = next(r for r in res["rows"] if r["label"] == "mxfp4_all")
    np.testing.assert_allclose(row["curve"]["val_loss"], v, rtol=1e-12)
    # a third run trains nothing and gives the same table
    trainer.calls.clear()
    again = _run(tmp_path, trainer, suite="demo")
    assert trainer.calls == [] and again["table"] == res["table"]
    # more steps: every run resumes from its own folder
    ablate.run("demo", STEPS + 5, tmp_path / "abl", model="tiny", progress=False,
               batch_size=B, seq_len=S)
    assert [c["resume"] is not None for c in trainer.calls] == [True, True, True]


def test_run_killed_before_its_first_checkpoint_starts_over(tmp_path, monkeypatch):
    trainer = FakeTrainer(interrupt={"nvfp4_2d_rht16": 0})
    monkeypatch.setattr(ablate, "_train_run", trainer)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, trainer, suite="demo")
    assert (tmp_path / "abl" / "runs" / "nvfp4_2d_rht16").is_dir()
    trainer.calls.clear()
    _run(tmp_path, trainer, suite="demo")
    assert [(c["name"], c["resume"]) for c in trainer.calls] == [("nvfp4_2d_rht16", None)]


def test_fresh_run_and_settings_mismatch(tmp_path, fake):
    _run(tmp_path, fake, suite="demo")
    with pytest.raises(ValueError, match=r"argument 'out': .* other settings \(seed: 0 there, "
                                         r"1 now\)"):
        _run(tmp_path, fake, suite="demo", seed=1)
    fake.calls.clear()
    _run(tmp_path, fake, suite="demo", seed=1, resume=False)
    assert [(c["seed"], c["resume"]) for c in fake.calls] == [(1, None)] * 3


def test_failed_run_is_reported_and_the_others_finish(tmp_path, monkeypatch):
    trainer = FakeTrainer(fail={"mxfp4_all"})
    monkeypatch.setattr(ablate, "_train_run", trainer)
    res = _run(tmp_path, trainer, suite="demo")
    assert res["failed"] == ["mxfp4_all"] and len(trainer.calls) == 3
    row = next(r for r in res["rows"] if r["label"] == "mxfp4_all")
    assert row["status"] == "error" and "fake failure" in row["error"]
    assert "| mxfp4_all | — (failed) | — | — | — |" in res["table"]
    assert "mxfp4_all: failed: RuntimeError: fake failure of mxfp4_all" in \
        res["markdown"].read_text()


@pytest.mark.parametrize("steps, exc", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                        (True, TypeError), ("10", TypeError)])
def test_bad_steps(tmp_path, fake, steps, exc):
    with pytest.raises(exc, match="argument 'steps'"):
        ablate.run("demo", steps, tmp_path)
    assert fake.calls == []


def test_bad_out_and_seed(tmp_path, fake):
    with pytest.raises(TypeError, match="argument 'out'"):
        ablate.run("demo", 3, None)
    with pytest.raises(ValueError, match="argument 'seed'"):
        ablate.run("demo", 3, tmp_path, seed=-1)
    assert fake.calls == []


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def test_cli_runs_a_subset_and_prints_the_table(tmp_path, fake, capsys):
    out = tmp_path / "cli"
    rc = ablate.main(["--suite", "papers", "--steps", "20", "--out", str(out), "--model", "tiny",
                      "--batch-size", str(B), "--seq-len", str(S), "--lr", "0.001",
                      "--eval-interval", "5", "--recipes", "nvfp4_2d_rht16", "--quiet"])
    assert rc == 0
    assert [c["name"] for c in fake.calls] == ["bf16", "nvfp4_2d_rht16"]
    assert fake.calls[0]["lr"] == 0.001 and fake.calls[0]["eval_interval"] == 5
    assert fake.calls[0]["progress"] is False
    text = capsys.readouterr().out
    assert "| recipe | final val loss |" in text and str(out / "val_loss.png") in text
    md = (out / "results.md").read_text()
    assert ("python -m fp4train.ablate --suite papers --steps 20 --out " + str(out)) in md


@pytest.mark.parametrize("argv, message", [
    (["--suite", "nope", "--steps", "3", "--out", "x"],
     "argument 'suite': expected one of demo, staging, papers, hadamard, formats"),
    (["--suite", "demo", "--steps", "0", "--out", "x"], "argument 'steps'"),
    (["--suite", "demo", "--out", "x"], "--steps is required"),
    (["--suite", "demo", "--steps", "2", "--out", "x", "--recipes", "zz"],
     "argument 'recipes'"),
])
def test_cli_errors(fake, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        ablate.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert fake.calls == []


def test_cli_refuses_to_mix_settings_in_one_folder(tmp_path, fake, capsys):
    argv = ["--suite", "demo", "--steps", "10", "--out", str(tmp_path), "--quiet",
            "--batch-size", str(B), "--seq-len", str(S)]
    assert ablate.main(argv) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        ablate.main(argv[:-4] + ["--batch-size", "8", "--seq-len", str(S)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "argument 'out'" in err and "--fresh" in err
    assert ablate.main(argv[:-4] + ["--batch-size", "8", "--seq-len", str(S), "--fresh"]) == 0
    assert [c["batch_size"] for c in fake.calls] == [B] * 3 + [8] * 3


def test_cli_list(capsys):
    assert ablate.main(["--list"]) == 0
    text = capsys.readouterr().out
    assert "mxfp4_all_wgrad_h128_per_step" in text and "nvfp4_all" in text


def test_module_entry_point():
    import os
    import subprocess
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root / "python"))
    proc = subprocess.run([sys.executable, "-m", "fp4train.ablate", "--suite", "x", "--steps",
                           "1", "--out", "y"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "expected one of demo, staging" in proc.stderr


# --------------------------------------------------------------------------
# the real trainer
# --------------------------------------------------------------------------

def test_real_training_smoke(tmp_path, monkeypatch):
    """Two recipes through fp4train.train.run on the tiny model: files, curves,
    figures recomputed from results.json, and a rerun that trains nothing."""
    out = tmp_path / "real"
    steps, bs, sl = 3, 4, 32
    res = ablate.run(["fp32", "mxfp4_all"], steps, out, model="tiny", progress=False,
                     batch_size=bs, seq_len=sl, eval_interval=1, eval_batches=2)
    assert res["failed"] == [] and res["baseline"] == "fp32"
    doc = json.loads((out / "results.json").read_text())
    assert (out / "val_loss.png").read_bytes()[:8] == PNG_MAGIC
    rows = {r["label"]: r for r in doc["rows"]}
    for label, r in rows.items():
        assert r["status"] == "completed" and r["steps"] == steps
        assert r["curve"]["tokens"] == [float(s * bs * sl) for s in range(steps + 1)]
        assert all(math.isfinite(v) and 0 < v < 8 for v in r["curve"]["val_loss"])
        assert r["final_val_loss"] == r["curve"]["val_loss"][-1]
        assert r["curve"]["val_loss"][-1] < r["curve"]["val_loss"][0]   # it learns
    target = rows["fp32"]["final_val_loss"]
    q = rows["mxfp4_all"]
    assert q["gap_pct"] == pytest.approx(100 * (q["final_val_loss"] - target) / target)
    t = ablate.tokens_to_reach(q["curve"]["tokens"], q["curve"]["val_loss"], target)
    assert q["tokens_to_baseline"] == t
    if t is not None:
        assert q["token_cost_pct"] == pytest.approx(100 * (t / (steps * bs * sl) - 1))
    # identical settings apart from the recipe (seed, data, model, batch, schedule)
    cfgs = [rows[k]["summary"]["config"] for k in ("fp32", "mxfp4_all")]
    assert {k: v for k, v in cfgs[0].items() if k != "recipe"} == \
        {k: v for k, v in cfgs[1].items() if k != "recipe"}

    def no_training(**kw):
        raise AssertionError("a finished run was trained again")
    monkeypatch.setattr(ablate, "_train_run", no_training)
    again = ablate.run(["fp32", "mxfp4_all"], steps, out, model="tiny", progress=False,
                       batch_size=bs, seq_len=sl, eval_interval=1, eval_batches=2)
    assert again["table"] == res["table"]
