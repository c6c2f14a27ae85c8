"""Where a training step's time goes: ``python -m fp4train.train --profile``.

Public: StepProfiler.

The profiler splits each step's wall time into
- GEMMs: the C++ time of every Linear layer's three GEMMs (quantized or not);
- quantize + Hadamard: the C++ time spent quantizing operands, fused
  Hadamard transforms and packing included (for fp32/bf16 operands: copying
  or rounding them into the GEMM's layout);
- Linear other: the rest of the C++ linear layer (bias, dW accumulation);
- other layers: embedding, norms, RoPE, attention core, SwiGLU, loss
  (the forward and backward time outside the Linear calls);
- optimizer: gradient clipping and the AdamW step;
- Python overhead: everything else (batching, the Linear wrappers'
  argument checks, bookkeeping, logging).

The C++ split comes from ``_core``'s linear-phase counters when the build
has them; otherwise GEMM and quantization are reported together as
"Linear (C++ and wrapper)". Linear calls are timed by wrapping the
instances' ``forward``/``backward`` while profiling (removed by ``close``),
so profiling never changes a result.
"""
import contextlib
import time

from . import _core
from .nn.linear import Linear

_HAS_PHASES = all(hasattr(_core, n) for n in
                  ("set_linear_profiling", "linear_profile", "reset_linear_profile"))


class StepProfiler:
    """Accumulates per-category step time for ``model``'s training steps.

    Use ``with prof.step():`` around each training step and
    ``with prof.section("forward_backward")`` / ``"optimizer"`` around those
    parts of it; ``report()`` gives the shares. Time outside ``step`` (evaluation,
    checkpoints) is not counted.
    """

    def __init__(self, model):
        self._linear_time = 0.0
        self._sections = {}
        self._steps = 0
        self._wall = 0.0
        self._in_step = False
        self._patched = []
        seen = set()  # modules() can list a layer twice (a child also kept in a list)
        for m in model.modules():
            if isinstance(m, Linear) and id(m) not in seen:
                seen.add(id(m))
                self._wrap(m, "forward")
                self._wrap(m, "backward")
        if _HAS_PHASES:
            _core.reset_linear_profile()

    def _wrap(self, layer, method):
        inner = getattr(layer, method)

        def timed(*args, **kwargs):
            if not self._in_step:  # evaluation passes are not part of the step profile
                return inner(*args, **kwargs)
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self._linear_time += time.perf_counter() - t0

        setattr(layer, method, timed)
        self._patched.append((layer, method))

    def close(self):
        """Remove the timing wrappers and switch the C++ counters off."""
        for layer, method in self._patched:
            layer.__dict__.pop(method, None)
        self._patched = []
        if _HAS_PHASES:
            _core.set_linear_profiling(False)

    @contextlib.contextmanager
    def section(self, name):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sections[name] = self._sections.get(name, 0.0) + time.perf_counter() - t0

    @contextlib.contextmanager
    def step(self):
        """Around one training step: its wall time and only its Linear calls count."""
        if _HAS_PHASES:
            _core.set_linear_profiling(True)
        self._in_step = True
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._wall += time.perf_counter() - t0
            self._steps += 1
            self._in_step = False
            if _HAS_PHASES:
                _core.set_linear_profiling(False)

    def report(self):
        """``{"steps", "ms_per_step", "categories": {name: {"ms_per_step", "share"}}}``."""
        n = max(self._steps, 1)
        fb = self._sections.get("forward_backward", 0.0)
        opt = self._sections.get("optimizer", 0.0)
        cats = {}
        if _HAS_PHASES:
            phases = _core.linear_profile()
            gemm = sum(p["gemm"] for p in phases.values())
            quant = sum(p["quantize"] for p in phases.values())
            other = sum(p["other"] for p in phases.values())
            cats["GEMMs (Linear, C++)"] = gemm
            cats["quantize + Hadamard (C++)"] = quant
            cats["Linear other (C++)"] = other
            wrapper = max(self._linear_time - gemm - quant - other, 0.0)
        else:
            cats["Linear (C++ and wrapper)"] = self._linear_time
            wrapper = 0.0
        cats["other layers (incl. loss)"] = max(fb - self._linear_time, 0.0)
        cats["optimizer (clip + AdamW)"] = opt
        cats["Python overhead (data, wrappers, logging)"] = max(
            self._wall - fb - opt, 0.0) + wrapper
        total = sum(cats.values()) or 1.0
        return {"steps": self._steps, "ms_per_step": 1e3 * self._wall / n,
                "categories": {k: {"ms_per_step": 1e3 * v / n, "share": v / total}
                               for k, v in cats.items()}}

    @staticmethod
    def format(report):
        """The report as an aligned text table."""
        lines = [f"step profile over {report['steps']} steps, "
                 f"{report['ms_per_step']:.1f} ms/step:"]
        width = max(len(k) for k in report["categories"])
        for k, v in report["categories"].items():
            lines.append(f"  {k:<{width}}  {v['ms_per_step']:8.2f} ms  {100 * v['share']:5.1f} %")
        return "\n".join(lines)
