"""AdamW with decoupled weight decay, global-norm gradient clipping, and learning-rate schedules.

AdamW: Loshchilov & Hutter 2019 ("Decoupled Weight Decay Regularization"), in PyTorch's
torch.optim.AdamW order of operations, so a run here and a PyTorch run with the same gradients take
the same steps. Clipping: PyTorch's clip_grad_norm_ (scale by max_norm / (norm + 1e-6) when that is
below 1), per model. Schedules: linear warmup, then cosine (nanoGPT's get_lr), linear, or
warmup-stable-decay (Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed
Training Durations": constant after warmup, linear decay over the last ``decay_fraction``).
"""

from __future__ import annotations

import math

import numpy as np

from sim.transformer.config import TransformerConfig


# ---------------------------------------------------------------------------------------- schedules
def lr_multiplier(step: int, total_steps: int, schedule: str, warmup_fraction: float,
                  min_lr_ratio: float, decay_fraction: float = 0.2) -> float:
    """The learning rate of step ``step`` (0-based) as a fraction of the peak.

    Warmup: (step + 1) / warmup_steps for the first warmup_steps = round(warmup_fraction * total)
    steps. After it, progress p runs from 0 to 1 over the remaining steps and the multiplier is
    cosine: r + (1 - r) (1 + cos(pi p)) / 2; linear: 1 - (1 - r) p; wsd: 1 until the last
    round(decay_fraction * total) steps, then linear to r (r = min_lr_ratio).
    """
    warmup = int(round(warmup_fraction * total_steps))
    if step < warmup:
        return (step + 1) / warmup
    r = min_lr_ratio
    if schedule == "wsd":
        decay = max(1, int(round(decay_fraction * total_steps)))
        start = total_steps - decay
        if step < start:
            return 1.0
        return 1.0 - (1.0 - r) * min(1.0, (step - start + 1) / decay)
    span = max(1, total_steps - warmup)
    p = min(1.0, (step - warmup + 1) / span)
    if schedule == "cosine":
        return r + (1.0 - r) * 0.5 * (1.0 + math.cos(math.pi * p))
    if schedule == "linear":
        return 1.0 - (1.0 - r) * p
    raise ValueError(f"unknown schedule {schedule!r}")


def schedule_for(cfg: TransformerConfig, total_steps: int | None = None):
    total = cfg.steps if total_steps is None else total_steps
    return lambda step: lr_multiplier(step, total, cfg.schedule, cfg.warmup_fraction, cfg.min_lr_ratio,
                                      cfg.decay_fraction)


# -------------------------------------------------------------------------------------------- AdamW
class AdamW:
    """AdamW over a `Model`'s flat buffers (M models, tensor-major): one learning rate per model."""

    def __init__(self, model, lrs, *, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, grad_clip=1.0):
        xp = model.xp
        self.model = model
        self.k = model.k
        self.beta1, self.beta2, self.eps, self.weight_decay = float(beta1), float(beta2), float(eps), float(weight_decay)
        self.grad_clip = float(grad_clip)
        self.base_lr = np.asarray(lrs, dtype=np.float64).reshape(model.M)
        self.exp_avg = xp.zeros_like(model.params)
        self.exp_avg_sq = xp.zeros_like(model.params)
        self.t = 0
        self.lr = xp.zeros(model.M, dtype=np.float64)
        self.grad_scale = xp.ones(model.M, dtype=np.float64)
        self.sq_norm = xp.zeros(model.M, dtype=np.float64)
        self.norm_scratch = xp.zeros((model.M, len(model.specs)), dtype=np.float64)
        self.active_dev = xp.ones(model.M, dtype=np.uint8)
        self.grad_norm = np.zeros(model.M)  # host copy of the last step's pre-clipping norms

    def step(self, lr_multiplier: float, active: np.ndarray) -> np.ndarray:
        """Clip, then update every active model. Returns the gradient norms (host, before clipping);
        a model with a non-finite norm is left untouched and the caller marks it diverged."""
        m = self.model
        xp = m.xp
        self.t += 1
        self.k.sum_squares(self.sq_norm, m.grads, m.segments, self.norm_scratch)
        norm = np.sqrt(m.backend.to_host(self.sq_norm).astype(np.float64))
        self.grad_norm = norm
        finite = np.isfinite(norm)
        scale = np.ones(m.M)
        if self.grad_clip > 0:
            coef = self.grad_clip / (norm[finite] + 1e-6)
            scale[finite] = np.minimum(1.0, coef)
        act = np.asarray(active, dtype=bool) & finite
        self.grad_scale[...] = xp.asarray(scale)
        self.lr[...] = xp.asarray(self.base_lr * lr_multiplier)
        self.active_dev[...] = xp.asarray(act.astype(np.uint8))
        bc1 = 1.0 - self.beta1 ** self.t
        bc2 = 1.0 - self.beta2 ** self.t
        self.k.adamw_step(m.params, m.grads, self.exp_avg, self.exp_avg_sq, m.segments, m.segment_decay, self.lr,
                          self.grad_scale, self.active_dev, self.beta1, self.beta2, self.eps,
                          self.weight_decay, bc1, bc2)
        return norm


def adamw_reference(p, g, exp_avg, exp_avg_sq, t, lr, beta1, beta2, eps, weight_decay, decay_mask):
    """One AdamW step in float64 numpy, PyTorch's formula (the check for the kernels). Returns new
    (p, exp_avg, exp_avg_sq)."""
    p = p * (1.0 - lr * weight_decay * decay_mask)
    exp_avg = beta1 * exp_avg + (1.0 - beta1) * g
    exp_avg_sq = beta2 * exp_avg_sq + (1.0 - beta2) * g * g
    bc1 = 1.0 - beta1 ** t
    bc2 = 1.0 - beta2 ** t
    p = p - (lr / bc1) * exp_avg / (np.sqrt(exp_avg_sq) / math.sqrt(bc2) + eps)
    return p, exp_avg, exp_avg_sq
