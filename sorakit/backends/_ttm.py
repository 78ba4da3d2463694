"""Time-to-Move on a diffusers pipeline: the scheduler side (see ``sorakit.guidance.ttm``).

Nothing here changes a pipeline's code. Two hooks do it all:

- ``tail`` gives the pipeline's scheduler, for one call, a ``set_timesteps`` after which the
  schedule is the last ``N - t_weak`` steps of its own ``N``-step schedule (its sigmas or
  timesteps sliced, everything else as the scheduler made it): the denoising loop starts at
  step ``t_weak``, from the latents ``Guide.start`` gives, and the first ``t_weak`` steps cost
  nothing.
- ``Guide.after_step`` is called from ``callback_on_step_end`` after each scheduler step; while
  the step's index in the full schedule is below ``t_strong`` it returns the latents with the
  masked region replaced by the reference noised to the level the step just reached.

The noise level of step ``j`` is read from the scheduler: a flow-matching scheduler
(FlowMatchEuler, or UniPC with flow sigmas, as Wan ships) mixes ``(1 - sigma_j) z + sigma_j e``
(diffusers' ``scale_noise`` and UniPC's ``add_noise`` with flow sigmas); a DDPM-type scheduler
(CogVideoX's DDIM and DPM) is at timestep ``t_j`` and mixes with its ``alphas_cumprod`` through
its own ``add_noise``. After the step from ``t_j`` those schedulers land on
``t_j - num_train_timesteps // N`` (their ``step``), which is the level the overwrite uses.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from sorakit.backends.contract import Conditioning

__all__ = ["Guide", "prepare", "tail"]


def _is_flow(scheduler: Any) -> bool:
    config = scheduler.config
    return ("FlowMatch" in type(scheduler).__name__ or bool(config.get("use_flow_sigmas", False))
            or config.get("prediction_type") == "flow_prediction")


@dataclass
class Guide:
    """One TTM run: the reference latents, the fixed noise, the mask and the two step indices.

    Attributes:
        reference: transformer-space latents of the motion video ``[C, F, h, w]`` (torch, float32).
        noise: the fixed noise ``[C, F, h, w]`` every level is mixed with (the Take's seed).
        mask: bool ``[F, h, w]``: where the motion is held until ``t_strong``.
        t_weak, t_strong: the step the loop starts at, and the first step that runs free.
        steps: the full schedule's length ``N``.
        flow: whether the scheduler mixes by sigmas (flow matching) or by ``alphas_cumprod``.
        timesteps, sigmas: the full schedule, as the scheduler set it before the call.
    """

    reference: Any
    noise: Any
    mask: np.ndarray
    t_weak: int
    t_strong: int
    steps: int
    flow: bool
    timesteps: Any
    sigmas: Any

    def noised(self, scheduler: Any, index: int) -> Any:
        """The reference noised with the fixed noise to the level of step ``index`` of the full schedule.

        ``index`` ``N`` is the clean end. For a DDPM-type scheduler ``index`` ``j > 0`` is where
        the step from ``t_{j-1}`` lands (``t_{j-1} - num_train_timesteps // N``).
        """
        torch = _torch()
        if self.flow:
            sigma = float(self.sigmas[index])
            return (1.0 - sigma) * self.reference + sigma * self.noise
        if index == 0:
            t = int(self.timesteps[0])
        else:
            t = int(self.timesteps[index - 1]) - scheduler.config.num_train_timesteps // self.steps
        if t < 0:
            return self.reference.clone()
        return scheduler.add_noise(self.reference[None], self.noise[None], torch.tensor([t]))[0]

    def start(self, scheduler: Any) -> Any:
        """The loop's first latents ``[C, F, h, w]``: the reference noised to step ``t_weak``, everywhere."""
        return self.noised(scheduler, self.t_weak)

    def after_step(self, scheduler: Any, step: int, current: np.ndarray) -> np.ndarray | None:
        """``current`` (``[C, F, h, w]``) after loop step ``step`` (from 1), held where the mask is, or None.

        Loop step ``step`` is step ``t_weak + step - 1`` of the full schedule; while that is below
        ``t_strong`` the masked region becomes the reference noised to the next step's level.
        """
        index = self.t_weak + step - 1
        if index >= self.t_strong:
            return None
        held = self.noised(scheduler, index + 1).numpy()
        return np.where(self.mask[None], held, current).astype(np.float32)


def _torch() -> Any:
    import torch

    return torch


def prepare(fam: ModuleType, pipe: Any, take: Any, cond: Conditioning) -> Guide:
    """Encodes the motion video, builds the latent mask and the fixed noise, and reads the full schedule.

    The schedule is the one the pipeline will set, from the family's ``schedule`` (the arguments
    its ``__call__`` passes to ``set_timesteps``); ``tail`` checks the pipeline's own call matches it.
    """
    from sorakit.guidance.ttm import latent_mask, motion_video
    from sorakit.previz import render

    torch = _torch()
    assert cond.motion is not None and cond.ttm is not None
    previz = cond.motion
    w, h = fam.working_size(pipe, take)
    if (w, h) != take.size and cond.sim is not None:  # a family that works at another size sees the motion there
        previz = render(cond.sim, w, h, trail=False)
    image = None if cond.image is None else np.asarray(cond.image.convert("RGB").resize((w, h)))
    video = motion_video(previz.frames, previz.body_ids, image)
    c, f, lh, lw, temporal = fam.latent_grid(pipe, take)
    z = fam.encode_video(pipe, video[None])[0]  # [C, F, h, w] in the transformer's space
    if z.shape != (c, f, lh, lw):
        raise RuntimeError(f"the motion video encodes to {z.shape}, the pipeline's grid is {(c, f, lh, lw)}")
    mask = latent_mask(previz.body_ids, latent_frames=f, latent_height=lh, latent_width=lw, temporal=temporal)
    generator = torch.Generator(device="cpu").manual_seed(take.seed)
    noise = torch.randn((c, f, lh, lw), generator=generator, dtype=torch.float32)
    scheduler = pipe.scheduler
    scheduler.set_timesteps(**fam.schedule(pipe, take), device="cpu")
    flow = _is_flow(scheduler)
    sigmas = scheduler.sigmas.clone().float() if flow else None
    if not flow and not hasattr(scheduler, "alphas_cumprod"):
        raise RuntimeError(f"Time-to-Move cannot read the noise levels of {type(scheduler).__name__}")
    if not flow and float(getattr(scheduler, "init_noise_sigma", 1.0)) != 1.0:
        raise RuntimeError(f"{type(scheduler).__name__} scales its initial latents; Time-to-Move expects it not to")
    t_weak, t_strong = cond.ttm
    return Guide(torch.from_numpy(np.ascontiguousarray(z)).float(), noise, mask, t_weak, t_strong, int(take.steps),
                 flow, scheduler.timesteps.clone().cpu(), sigmas)


@contextmanager
def tail(scheduler: Any, guide: Guide) -> Iterator[None]:
    """For one pipeline call, the schedule the pipeline sets starts at step ``guide.t_weak``.

    The scheduler's class is swapped for a subclass whose ``set_timesteps`` runs the class's own,
    checks (on this scheduler) that the full schedule is the one ``prepare`` read, then keeps its
    last ``N - t_weak`` timesteps (and sigmas, ``N - t_weak + 1`` with the final 0). A deep copy the
    pipeline makes (LTX-2's audio scheduler) is of the subclass too, so it gets the same tail and
    the loop's step index means the same step in both. ``num_inference_steps`` stays ``N``:
    CogVideoX's DDIM and DPM step down by ``num_train_timesteps // num_inference_steps``.
    """
    torch = _torch()
    base = type(scheduler)
    skip = guide.t_weak

    def set_timesteps(self: Any, *args: Any, **kwargs: Any) -> None:
        base.set_timesteps(self, *args, **kwargs)
        full = self.timesteps.detach().cpu()
        if self is scheduler and (full.shape != guide.timesteps.shape
                                  or not torch.allclose(full.float(), guide.timesteps.float())):
            raise RuntimeError(f"the pipeline set another schedule than Time-to-Move read "
                               f"({full.tolist()[:4]}... against {guide.timesteps.tolist()[:4]}...)")
        self.timesteps = self.timesteps[skip:]
        if guide.flow:
            self.sigmas = self.sigmas[skip:]

    functools.update_wrapper(set_timesteps, base.set_timesteps)  # retrieve_timesteps reads its signature
    scheduler.__class__ = type(base.__name__, (base,), {"set_timesteps": set_timesteps, "__module__": base.__module__})
    try:
        yield
    finally:
        scheduler.__class__ = base
