"""Train the small Llama-style model under a recipe: ``python -m fp4train.train``.

Public: run, main, DEFAULTS.

One command answers "does this recipe train as well as high precision, and
what does it cost?" for a small model on a CPU::

    python -m fp4train.train --recipe mxfp4_all --steps 600 --out runs/mxfp4_all
    python -m fp4train.train --resume runs/mxfp4_all --steps 1200

The run directory receives
- ``log.jsonl``: one JSON object per optimizer step (``step``, ``tokens``,
  ``train_loss``, ``lr``, ``grad_norm``, ``tokens_per_s``); evaluation
  steps (step 0, every ``eval_interval`` steps and the last step) also carry
  ``val_loss``; gradient-noise checks add ``noise``; policy changes add
  ``event``;
- ``checkpoint.json`` + ``checkpoint-<step>.npz`` (see
  :mod:`fp4train.checkpoint`), written every ``checkpoint_interval`` steps
  and at the end;
- ``summary.json``: the final numbers (also returned by :func:`run`);
- ``profile.json`` with ``--profile``.

Determinism: a batch is a pure function of (seed, step), the stochastic
rounding and Hadamard keys of every layer are functions of (layer seed,
step), and the checkpoint holds weights, optimizer moments and every
layer's step counter. So a run that is interrupted and resumed from its
last checkpoint logs bit-identical losses to one that never stopped, at
any thread count.

Resuming: every setting that changes the trajectory (model, recipe,
policy, seed, batch, sequence length, optimizer and schedule settings,
data) is stored in the checkpoint; a resumed run takes them from there and
refuses an explicit argument that differs. ``steps`` may grow: the cosine
schedule's horizon (``schedule_steps``) stays the first invocation's, so
steps beyond it run at the final learning rate.
"""
import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np

from . import _runtime
from ._checks import check_float as _check_float
from ._checks import check_int as _check_int
from . import recipes as _recipes
from .checkpoint import CheckpointError, has_checkpoint, load_checkpoint, save_checkpoint
from .data import TokenDataset, default_corpus, is_utf8, load_text
from .model import LlamaModel, PrecisionPolicy, model_config
from .nn import CrossEntropyLoss
from .noise import GradientNoiseMonitor
from .optim import AdamW, WarmupCosine, clip_grad_norm
from .profiler import StepProfiler
from .recipes import Recipe

# Settings that define the trajectory: stored in the checkpoint, fixed on resume.
DEFAULTS = {
    "recipe": "fp32", "model": "small", "seed": 0, "batch_size": 16, "seq_len": None,
    "lr": 3e-3, "min_lr_ratio": 0.1, "warmup": None, "schedule_steps": None,
    "weight_decay": 0.1, "grad_clip": 1.0, "val_fraction": 0.1,
    "first_k": 0, "last_k": 0, "edge_recipe": "bf16", "switch_step": None,
    "switch_part": "backward", "noise_every": 0, "noise_auto_switch": False,
    "noise_patience": 3, "data": None, "float_gemm": "exact",
}
LOG = "log.jsonl"
SUMMARY = "summary.json"


def _recipe_arg(recipe, name="recipe"):
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, dict):
        return Recipe.from_dict(recipe)
    if not isinstance(recipe, (str, os.PathLike)):
        raise TypeError(f"argument '{name}': expected a preset name, a recipe JSON path or a "
                        f"Recipe, got {type(recipe).__name__}")
    text = os.fspath(recipe)
    if text not in _recipes.names() and not text.endswith(".json") and os.sep not in text:
        raise ValueError(f"argument '{name}': unknown preset {text!r}; the presets are "
                         f"{', '.join(_recipes.names())} (or give a recipe .json file)")
    try:
        return _recipes.load(recipe)
    except (ValueError, FileNotFoundError, TypeError) as e:
        raise type(e)(f"argument '{name}': {e}") from None


def _normalize(cfg, steps):
    """Validate the trajectory settings and fill derived defaults (JSON-able result)."""
    out = dict(cfg)
    recipe = _recipe_arg(out["recipe"])
    out["recipe"] = recipe.to_dict()
    out["edge_recipe"] = _recipe_arg(out["edge_recipe"], "edge_recipe").to_dict()
    mc = model_config(out["model"])
    out["model"] = mc.to_dict()
    out["seed"] = _check_int("seed", out["seed"], 0)
    out["batch_size"] = _check_int("batch_size", out["batch_size"], 1)
    if out["seq_len"] is None:
        out["seq_len"] = mc.max_seq_len
    out["seq_len"] = _check_int("seq_len", out["seq_len"], 1)
    if out["seq_len"] > mc.max_seq_len:
        raise ValueError(f"argument 'seq_len': {out['seq_len']} exceeds the model's "
                         f"max_seq_len {mc.max_seq_len}")
    out["lr"] = _check_float("lr", out["lr"], 0.0, lo_open=True)
    out["min_lr_ratio"] = _check_float("min_lr_ratio", out["min_lr_ratio"], 0.0, 1.0)
    out["weight_decay"] = _check_float("weight_decay", out["weight_decay"], 0.0)
    out["grad_clip"] = _check_float("grad_clip", out["grad_clip"], 0.0)
    out["val_fraction"] = _check_float("val_fraction", out["val_fraction"], 0.0, 1.0,
                                       lo_open=True, hi_open=True)
    if out["schedule_steps"] is None:
        out["schedule_steps"] = steps
    out["schedule_steps"] = _check_int("schedule_steps", out["schedule_steps"], 1)
    if out["warmup"] is None:
        out["warmup"] = min(100, max(1, out["schedule_steps"] // 20))
    out["warmup"] = _check_int("warmup", out["warmup"], 0)
    out["noise_every"] = _check_int("noise_every", out["noise_every"], 0)
    out["noise_patience"] = _check_int("noise_patience", out["noise_patience"], 1)
    out["noise_auto_switch"] = bool(out["noise_auto_switch"])
    if out["noise_auto_switch"] and out["noise_every"] == 0:
        raise ValueError("argument 'noise_auto_switch': needs noise_every > 0")
    if out["float_gemm"] not in ("exact", "blas"):
        raise ValueError(f"argument 'float_gemm': expected 'exact' or 'blas', got "
                         f"{out['float_gemm']!r}")
    if out["data"] is not None:
        out["data"] = os.path.abspath(os.fspath(out["data"]))
    _policy(out)  # validates first_k/last_k/switch settings against the model
    return out


def _policy(cfg):
    policy = PrecisionPolicy(recipe=Recipe.from_dict(cfg["recipe"]), first_k=cfg["first_k"],
                             last_k=cfg["last_k"],
                             edge_recipe=Recipe.from_dict(cfg["edge_recipe"]),
                             switch_step=cfg["switch_step"], switch_part=cfg["switch_part"])
    n_layers = model_config(cfg["model"]).n_layers
    if policy.first_k + policy.last_k > n_layers:
        raise ValueError(f"arguments 'first_k' + 'last_k': {policy.first_k} + "
                         f"{policy.last_k} exceeds the model's {n_layers} blocks")
    return policy


def _load_dataset(cfg):
    if cfg["data"] is None:
        raw = default_corpus()
    else:
        raw = load_text(cfg["data"])
        if not is_utf8(raw):
            warnings.warn(f"--data {cfg['data']}: not valid UTF-8; training on its raw bytes "
                          "(the byte tokenizer has an id for every byte)", stacklevel=3)
    tokens = np.frombuffer(raw, dtype=np.uint8)
    return TokenDataset(tokens, cfg["seq_len"], val_fraction=cfg["val_fraction"])


class _Run:
    """The state of one training run: data, model, optimizer, monitor, counters."""

    def __init__(self, cfg, data):
        self.cfg = cfg
        self.data = data
        self.policy = _policy(cfg)
        self.model = LlamaModel(model_config(cfg["model"]), self.policy, seed=cfg["seed"])
        self.loss = CrossEntropyLoss()
        self.opt = AdamW(list(self.model.named_parameters()), lr=cfg["lr"],
                         weight_decay=cfg["weight_decay"])
        self.schedule = WarmupCosine(cfg["lr"], cfg["warmup"], cfg["schedule_steps"],
                                     min_ratio=cfg["min_lr_ratio"])
        self.monitor = (GradientNoiseMonitor(cfg["noise_every"], patience=cfg["noise_patience"],
                                             auto_switch=cfg["noise_auto_switch"])
                        if cfg["noise_every"] else None)
        self.step = 0
        self.tokens_per_step = cfg["batch_size"] * cfg["seq_len"]

    # -- checkpoint state ----------------------------------------------------
    def arrays(self):
        out = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        out.update({f"optim/{k}": v for k, v in self.opt.state_dict().items()})
        return out

    def meta(self):
        return {"config": self.cfg, "policy": self.policy.to_dict(),
                "data_fingerprint": self.data.fingerprint,
                "monitor": None if self.monitor is None else self.monitor.state_dict()}

    def restore(self, step, arrays, meta):
        model = {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
        optim = {k[6:]: (v.item() if v.ndim == 0 and k != "optim/t" else v)
                 for k, v in arrays.items() if k.startswith("optim/")}
        if "t" in optim:
            optim["t"] = int(optim["t"])
        self.policy = PrecisionPolicy.from_dict(meta["policy"])
        self.model.policy = self.policy
        self.model.load_state_dict(model)
        self.opt.load_state_dict(optim)
        if self.monitor is not None and meta.get("monitor") is not None:
            self.monitor.load_state_dict(meta["monitor"])
        self.step = int(step)

    # -- one step and one evaluation -------------------------------------------
    @np.errstate(over="ignore", invalid="ignore", divide="ignore")
    def evaluate(self, batches):
        self.model.eval()
        try:
            losses = [self.loss.forward(self.model.forward(x), y) for x, y in batches]
        finally:
            self.model.train()
        return float(np.mean(losses))

    # Overflow is detected explicitly (a non-finite loss or gradient norm stops
    # the run with a message), so numpy's warnings are silenced here.
    @np.errstate(over="ignore", invalid="ignore", divide="ignore")
    def train_step(self, prof=None):
        """One optimizer step; returns the log record (None if not finite)."""
        i = self.step
        cfg = self.cfg
        record = {}
        before = [b.recipe.name for b in self.model.blocks]
        self.model.apply_policy(i)
        after = [b.recipe.name for b in self.model.blocks]
        if after != before:
            record["event"] = f"policy: blocks now {after}"
        armed = self.monitor is not None and self.monitor.due(i)
        if armed:
            self.monitor.arm(self.model)
        x, y = self.data.train_batch(cfg["batch_size"], cfg["seed"], i)
        with _section(prof, "forward_backward"):
            self.model.zero_grad()
            loss = self.loss.forward(self.model.forward(x), y)
            if not math.isfinite(loss):
                return None
            self.model.backward(self.loss.backward())
        if armed:
            noise = self.monitor.measure(i, self.model)
            record["noise"] = _jsonable(noise)
            if noise.get("switch") and (self.policy.switch_step is None
                                        or self.policy.switch_step > i + 1):
                self.policy = self.policy.replace(switch_step=i + 1, switch_part="backward")
                self.model.policy = self.policy
                record["event"] = (f"gradient noise: median r below sqrt(3) for "
                                   f"{cfg['noise_patience']} checks; backward switches to "
                                   f"bf16 from step {i + 1}")
        lr = self.schedule(i)
        with _section(prof, "optimizer"):
            norm = clip_grad_norm(self.model.parameters(), cfg["grad_clip"])
            if not math.isfinite(norm):
                return None
            self.opt.step(lr=lr)
        self.step = i + 1
        record.update({"step": self.step, "tokens": self.step * self.tokens_per_step,
                       "train_loss": loss, "lr": lr, "grad_norm": norm})
        return record


class _NullSection:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _section(prof, name):
    return _NullSection() if prof is None else prof.section(name)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else (None if math.isnan(x) else
                                           ("inf" if x > 0 else "-inf"))
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _read_log(path, upto):
    """The log records with step <= upto (a resumed run rewrites what came after)."""
    records = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rec = json.loads(line)
                    if rec.get("step", 0) <= upto:
                        records.append(rec)
    return records


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(_jsonable(obj), f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def _resolve(explicit, stored, steps):
    """Trajectory settings: stored ones (when resuming) overlaid by explicit arguments."""
    if stored is None:
        cfg = dict(DEFAULTS)
        cfg.update({k: v for k, v in explicit.items() if v is not None})
        return _normalize(cfg, steps)
    cfg = dict(stored)
    for k, v in explicit.items():
        if v is None:
            continue
        probe = dict(stored)
        probe[k] = v
        mine = _normalize(probe, stored["schedule_steps"])[k]
        if mine != stored[k]:
            shown = v if not isinstance(mine, dict) else mine.get("name", mine)
            was = stored[k] if not isinstance(stored[k], dict) else stored[k].get("name")
            raise ValueError(f"argument '{k}': {shown!r} differs from the run being resumed "
                             f"({was!r}); resume with the same settings or start a new run")
    return cfg


def run(recipe=None, steps=None, seed=None, out=None, data=None, resume=None, model=None,
        batch_size=None, seq_len=None, lr=None, min_lr_ratio=None, warmup=None,
        schedule_steps=None, weight_decay=None, grad_clip=None, val_fraction=None,
        first_k=None, last_k=None, edge_recipe=None, switch_step=None, switch_part=None,
        noise_every=None, noise_auto_switch=None, noise_patience=None, float_gemm=None,
        eval_interval=None, eval_batches=8, checkpoint_interval=None, profile=False,
        progress=True, threads=None, callback=None):
    """Train (or resume) one run and return its summary dict.

    Parameters
    ----------
    recipe : str, path or Recipe
        Preset name, recipe JSON file, or :class:`~fp4train.Recipe`, for the
        transformer blocks' Linear layers (embeddings and LM head stay fp32).
    steps : int
        Optimizer steps to reach (a resumed run continues up to it).
    seed : int
        Model initialisation, batches, and every stochastic-rounding and
        Hadamard key derive from it.
    out : path or None
        The run directory (log, checkpoints, summary); None keeps nothing on disk.
    data : path or None
        A text file (any bytes; UTF-8 expected); None uses the generated
        default corpus (:func:`fp4train.data.default_corpus`).
    resume : path or None
        Continue the run stored in this directory (``out`` defaults to it).
    model : str, dict or ModelConfig
        A size from :data:`fp4train.model.MODEL_SIZES` ("tiny", "small",
        "medium") or a configuration.
    batch_size, seq_len, lr, min_lr_ratio, warmup, schedule_steps, weight_decay, grad_clip
        Batch of ``batch_size`` windows of ``seq_len`` bytes (default: the
        model's max_seq_len); AdamW peak ``lr`` with linear warmup over
        ``warmup`` steps (default 5% of the schedule, at most 100) and cosine
        decay to ``min_lr_ratio * lr`` at ``schedule_steps`` (default:
        ``steps``); decoupled ``weight_decay`` on matrices; global gradient
        norm clipped to ``grad_clip`` (0: no clipping).
    first_k, last_k, edge_recipe
        Keep the first/last k blocks under ``edge_recipe`` (default bf16).
    switch_step, switch_part
        From this step on, the ``switch_part`` GEMMs ("backward", "forward",
        "both") of quantized blocks run in bf16 (the finishing phase).
    noise_every, noise_auto_switch, noise_patience
        Gradient-noise monitor every N steps (0: off); optionally switch the
        backward to bf16 once the median r stays below sqrt(3) for
        ``noise_patience`` consecutive checks.
    float_gemm : "exact" or "blas"
        Backend of the float32 GEMMs (fp32/bf16 operands) during the run
        (see :func:`fp4train.set_float_gemm`); "blas" results depend on the
        BLAS library and thread count. Restored afterwards.
    eval_interval, eval_batches
        Validation loss every ``eval_interval`` steps (default steps/20) over
        ``eval_batches`` fixed batches, plus at step 0 and the last step.
    checkpoint_interval
        Steps between checkpoints (default: ``eval_interval``); one is also
        written at the end. Needs ``out``.
    profile : bool
        Report where step time goes (see :mod:`fp4train.profiler`).
    progress : bool
        Show a tqdm progress bar (loss, tokens/s, ETA) on stderr.
    threads : int or None
        C++ threads (results do not depend on it).
    callback : callable or None
        ``callback(record)`` after every step (a notebook can plot live; an
        exception raised there stops the run without a checkpoint).

    Returns
    -------
    dict
        The summary also written to ``out/summary.json``: ``status``
        ("completed" or "non_finite"), ``recipe``, ``steps``, ``tokens``,
        ``final_train_loss`` (mean of the last 10 steps), ``final_val_loss``,
        ``best_val_loss``, ``tokens_per_s`` (training steps of this
        invocation only), ``wall_s``, ``noise_switch_step``, ``config``, ...
    """
    t_start = time.perf_counter()
    if resume is not None:
        resume = os.fspath(resume)
        out = resume if out is None else out
        if os.path.abspath(os.fspath(out)) != os.path.abspath(resume):
            raise ValueError(f"argument 'out': a resumed run continues in its own directory "
                             f"'{resume}', got '{out}'")
        if not has_checkpoint(resume):
            raise CheckpointError(f"argument 'resume': '{resume}' holds no checkpoint "
                                  "(checkpoint.json is missing)")
    if steps is None:
        raise ValueError("argument 'steps': expected an int >= 1, got None")
    steps = _check_int("steps", steps, 1)
    if threads is not None:
        _runtime.set_num_threads(_check_int("threads", threads, 1))
    explicit = {"recipe": recipe, "model": model, "seed": seed, "batch_size": batch_size,
                "seq_len": seq_len, "lr": lr, "min_lr_ratio": min_lr_ratio, "warmup": warmup,
                "schedule_steps": schedule_steps, "weight_decay": weight_decay,
                "grad_clip": grad_clip, "val_fraction": val_fraction, "first_k": first_k,
                "last_k": last_k, "edge_recipe": edge_recipe, "switch_step": switch_step,
                "switch_part": switch_part, "noise_every": noise_every,
                "noise_auto_switch": noise_auto_switch, "noise_patience": noise_patience,
                "data": data, "float_gemm": float_gemm}
    stored = None
    if resume is not None:
        ckpt_step, arrays, meta = load_checkpoint(resume)
        stored = meta["config"]
    cfg = _resolve(explicit, stored, steps)
    dataset = _load_dataset(cfg)
    state = _Run(cfg, dataset)
    if stored is not None:
        if meta["data_fingerprint"] != dataset.fingerprint:
            raise CheckpointError(f"argument 'resume': the checkpoint in '{resume}' was "
                                  "trained on other data (fingerprints differ)")
        state.restore(ckpt_step, arrays, meta)
        del arrays
    eval_interval = (max(1, steps // 20) if eval_interval is None
                     else _check_int("eval_interval", eval_interval, 1))
    eval_batches = _check_int("eval_batches", eval_batches, 1)
    checkpoint_interval = (eval_interval if checkpoint_interval is None
                           else _check_int("checkpoint_interval", checkpoint_interval, 1))
    if out is not None:
        out = os.fspath(out)
        os.makedirs(out, exist_ok=True)
    val = dataset.val_batches(cfg["batch_size"], eval_batches)
    log_path = None if out is None else os.path.join(out, LOG)
    records = [] if log_path is None else _read_log(log_path, state.step)
    if log_path is not None:
        with open(log_path + ".tmp", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
        os.replace(log_path + ".tmp", log_path)
    log = None if log_path is None else open(log_path, "a")

    def emit(rec):
        records.append(rec)
        if log is not None:
            log.write(json.dumps(_jsonable(rec)) + "\n")
            log.flush()
        if callback is not None:
            callback(rec)

    def checkpoint():
        if out is not None:
            save_checkpoint(out, state.step, state.arrays(), state.meta())

    name = Recipe.from_dict(cfg["recipe"]).name
    status, message = "completed", None
    previous_float_gemm = _runtime.get_float_gemm()
    _runtime.set_float_gemm(cfg["float_gemm"])
    prof = StepProfiler(state.model) if profile else None
    train_time, train_steps = 0.0, 0
    bar = _progress_bar(progress, steps, state.step, name)
    try:
        if state.step == 0 and steps > 0:
            x0, y0 = dataset.train_batch(cfg["batch_size"], cfg["seed"], 0)
            emit({"step": 0, "tokens": 0, "train_loss": state.evaluate([(x0, y0)]),
                  "lr": state.schedule(0), "val_loss": state.evaluate(val)})
            checkpoint()
        while state.step < steps:
            t0 = time.perf_counter()
            with (prof.step() if prof is not None else _NullSection()):
                rec = state.train_step(prof)
            dt = time.perf_counter() - t0
            if rec is None:
                status = "non_finite"
                message = (f"training stopped: the loss or gradient became non-finite at step "
                           f"{state.step + 1} under recipe '{name}'; " + _kept(out))
                emit({"step": state.step + 1, "tokens": (state.step + 1) * state.tokens_per_step,
                      "train_loss": None, "lr": state.schedule(state.step),
                      "event": "non-finite loss or gradient"})
                break
            train_time += dt
            train_steps += 1
            rec["tokens_per_s"] = train_steps * state.tokens_per_step / train_time
            if state.step % eval_interval == 0 or state.step == steps:
                rec["val_loss"] = state.evaluate(val)
                if not math.isfinite(rec["val_loss"]):
                    status = "non_finite"
                    rec["event"] = "non-finite validation loss"
                    message = (f"training stopped: the validation loss became non-finite after "
                               f"step {state.step} under recipe '{name}'; "
                               + _kept(out))
                    emit(rec)
                    break
            emit(rec)
            if bar is not None:
                bar.update(1)
                post = {"loss": f"{rec['train_loss']:.3f}",
                        "tok/s": f"{rec['tokens_per_s']:.0f}"}
                if "val_loss" in rec:
                    post["val"] = f"{rec['val_loss']:.3f}"
                bar.set_postfix(post, refresh=False)
            if state.step % checkpoint_interval == 0 or state.step == steps:
                checkpoint()
    finally:
        _runtime.set_float_gemm(previous_float_gemm)
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
        if prof is not None:
            prof.close()
    summary = _summary(cfg, state, records, status, message, train_steps, train_time,
                       time.perf_counter() - t_start, out)
    if prof is not None:
        summary["profile"] = prof.report()
        print(StepProfiler.format(summary["profile"]), file=sys.stderr)
        if out is not None:
            _write_json(os.path.join(out, "profile.json"), summary["profile"])
    if out is not None:
        _write_json(os.path.join(out, SUMMARY), summary)
    if message:
        print(message, file=sys.stderr)
    return summary


def _kept(out):
    """Where the last good checkpoint is, for the non-finite stop message."""
    if out is None:
        return "no checkpoint (no out directory)"
    try:
        with open(os.path.join(out, "checkpoint.json")) as f:
            step = json.load(f)["step"]
    except (OSError, ValueError, KeyError):
        return f"no checkpoint was written in '{out}'"
    return f"the last good checkpoint (step {step}) is kept in '{out}'"


def _progress_bar(progress, steps, start, name):
    if not progress:
        return None
    from tqdm import tqdm
    return tqdm(total=steps, initial=start, desc=name, unit="step", dynamic_ncols=True,
                file=sys.stderr)


def _summary(cfg, state, records, status, message, train_steps, train_time, wall, out):
    evals = [r for r in records if r.get("val_loss") is not None]
    trains = [r["train_loss"] for r in records if r.get("step", 0) > 0
              and r.get("train_loss") is not None]
    noise_switch = None if state.monitor is None else state.monitor.switched_at
    return {
        "status": status, "message": message, "recipe": Recipe.from_dict(cfg["recipe"]).name,
        "steps": state.step, "tokens": state.step * state.tokens_per_step,
        "params": int(sum(p.data.size for p in state.model.parameters())),
        "final_train_loss": float(np.mean(trains[-10:])) if trains else None,
        "final_val_loss": evals[-1]["val_loss"] if evals else None,
        "best_val_loss": min(r["val_loss"] for r in evals) if evals else None,
        "tokens_per_s": (train_steps * state.tokens_per_step / train_time
                         if train_time > 0 else None),
        "wall_s": wall, "seed": cfg["seed"], "noise_switch_step": noise_switch,
        "policy": state.policy.to_dict(), "config": cfg, "out": out,
    }


# -- command line ---------------------------------------------------------------

def _parser():
    p = argparse.ArgumentParser(
        prog="python -m fp4train.train",
        description="Train the small Llama-style model under an FP4 recipe (or resume a run).")
    a = p.add_argument
    a("--recipe", help="preset name or recipe JSON file (default fp32); see "
                       "fp4train.recipes.names()")
    a("--steps", type=int, required=True, help="optimizer steps to reach")
    a("--seed", type=int, help="seed of init, batches, rounding and Hadamard keys (default 0)")
    a("--out", help="run directory: log.jsonl, checkpoints, summary.json")
    a("--resume", metavar="DIR", help="continue the run in DIR up to --steps")
    a("--data", metavar="FILE", help="train on this text file (default: generated corpus)")
    a("--model", help="model size: tiny, small (default), medium")
    a("--batch-size", type=int)
    a("--seq-len", type=int)
    a("--lr", type=float, help="peak learning rate (default 3e-3)")
    a("--min-lr-ratio", type=float)
    a("--warmup", type=int)
    a("--schedule-steps", type=int, help="cosine horizon (default --steps)")
    a("--weight-decay", type=float)
    a("--grad-clip", type=float, help="global gradient-norm clip (0 disables)")
    a("--first-k", type=int, help="keep the first k blocks under --edge-recipe")
    a("--last-k", type=int, help="keep the last k blocks under --edge-recipe")
    a("--edge-recipe", help="recipe of the first/last k blocks (default bf16)")
    a("--switch-step", type=int, help="from this step on, --switch-part GEMMs run in bf16")
    a("--switch-part", choices=["backward", "forward", "both"])
    a("--noise-every", type=int, help="gradient-noise check every N steps (0: off)")
    a("--noise-auto-switch", action="store_true", default=None,
      help="switch the backward to bf16 once the median r stays below sqrt(3)")
    a("--noise-patience", type=int)
    a("--eval-interval", type=int)
    a("--eval-batches", type=int, default=8)
    a("--checkpoint-interval", type=int)
    a("--threads", type=int)
    a("--float-gemm", choices=["exact", "blas"],
      help="float32 GEMM backend for fp32/bf16 operands (default exact: bit-defined)")
    a("--profile", action="store_true", help="report where step time goes")
    a("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    """Entry point of ``python -m fp4train.train`` and the ``fp4train-train`` script."""
    args = _parser().parse_args(argv)
    if args.out is None and args.resume is None:
        _parser().error("one of --out DIR or --resume DIR is required")
    kwargs = {k: getattr(args, k) for k in (
        "recipe", "steps", "seed", "out", "data", "resume", "model", "batch_size", "seq_len",
        "lr", "min_lr_ratio", "warmup", "schedule_steps", "weight_decay", "first_k", "last_k",
        "edge_recipe", "switch_step", "switch_part", "noise_every", "noise_auto_switch",
        "noise_patience", "eval_interval", "eval_batches", "checkpoint_interval", "threads",
        "float_gemm")}
    kwargs["grad_clip"] = args.grad_clip
    try:
        summary = run(**kwargs, profile=args.profile, progress=not args.no_progress)
    except KeyboardInterrupt:
        where = args.resume or args.out
        print(f"\ninterrupted; continue with: python -m fp4train.train --resume {where} "
              f"--steps {args.steps}", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(_summary_line(summary))
    return 0 if summary["status"] == "completed" else 1


def _summary_line(s):
    val = "n/a" if s["final_val_loss"] is None else f"{s['final_val_loss']:.4f}"
    tps = "n/a" if s["tokens_per_s"] is None else f"{s['tokens_per_s']:.0f}"
    return (f"{s['status']}: recipe {s['recipe']}, {s['steps']} steps, {s['tokens']} tokens, "
            f"val loss {val}, {tps} tokens/s, {s['wall_s']:.1f} s"
            + (f", in {s['out']}" if s["out"] else ""))


if __name__ == "__main__":
    sys.exit(main())
