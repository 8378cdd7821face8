"""A toy GPT-style transformer trainer on byte-level text: numpy + Numba on CPU, CuPy + Numba CUDA on GPU.

- `config.TransformerConfig`: one run's options (the `simulate transformer` options).
- `layers`: the numpy reference, one forward/backward pair per layer.
- `model.Model`: the fast model (flat parameter buffer, preallocated buffers, a leading model axis);
  `parameter_counts`, `flops_per_token`: the accounting.
- `kernels_cpu` / `kernels_cuda`: the fused kernels on each device.
- `optim`: AdamW, clipping, schedules. `train.train`: the loop, M models at once.

``SIMULATOR`` is this package's entry in the simulator registry (sim/registry.py): one seed per run.
"""

from sim.registry import SimulatorSpec
from sim.transformer.config import TransformerConfig
from sim.transformer.model import Model, flops_per_token, parameter_counts
from sim.transformer.train import TrainResult, run, train

SIMULATOR = SimulatorSpec(
    name="transformer",
    config_type=TransformerConfig,
    run=run,
    description="GPT-style decoder-only transformer on byte-level text (AdamW, pre-LayerNorm)",
)

__all__ = ["SIMULATOR", "Model", "TrainResult", "TransformerConfig", "flops_per_token", "parameter_counts", "run", "train"]
