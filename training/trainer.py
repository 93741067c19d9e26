"""The fine-tuning loop on Hugging Face accelerate: 1 GPU, N GPUs or several nodes with `accelerate launch`.

Every random number of optimiser step s (clip choice, drag sample, view and drag subset, latent sampling,
sigma, noise, drag dropout) comes from generators seeded by (seed, draw index), where the draw index counts
examples across steps, accumulation micro-steps, processes and the per-process batch. A run resumed from a
checkpoint therefore continues exactly as the uninterrupted run would (model, Adam state, grad scaler and EMA
are restored).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator

from puppet_master.loading import load_unet, save_unet, unet_from_svd
from puppet_master.model import PuppetMasterUNet
from puppet_master.pipeline import sample_video
from puppet_master.sampler_settings import SamplerSettings

from .dataset import DEFAULT_MIXTURE, ClipDataset, ExampleDraws, draw_generator
from .drag_subsets import DragSubsetRule
from .ema import EMA
from .loss import INPUT_SCALINGS, NoiseDraw, draw_noise, edm_loss

logger = logging.getLogger(__name__)
CHECKPOINTS = "checkpoints"
EMA_FILE = "ema.safetensors"
STATE_FILE = "train_state.json"
EXPORT_NAME = "puppet_master_ema.safetensors"


@dataclass
class TrainConfig:
    """The paper's recipe by default (appendix C.1); training/README.md tables where paper and official code differ."""

    data: list[str]
    output: str
    init: str
    """A stock SVD img2vid UNet (diffusers folder or file) to start from, or Puppet-Master weights."""
    unet_config: dict = field(default_factory=dict)
    steps: int = 12_500
    effective_batch: int = 64
    batch_size: int = 1
    learning_rate: float = 1e-5
    mixed_precision: str = "fp16"
    gradient_checkpointing: bool = True
    max_grad_norm: float = 1.0
    ema_decay: float = 0.9999
    p_mean: float = 0.7
    p_std: float = 1.6
    drag_dropout: float = 0.1
    input_scaling: str = "edm"
    """"edm": the model sees c_in * x_noisy (SVD's preconditioning, as inference applies it); "official": x_noisy,
    as the released train.py. Default edm: fine-tuning starts from SVD, trained with c_in, and is sampled with c_in."""
    mixture: dict[str, float] | None = field(default_factory=lambda: dict(DEFAULT_MIXTURE))
    """Group weights (the paper's by default); None: every clip once per shuffled epoch, as the official code."""
    duplicate_distance: float = 20.0
    """Per-step de-duplication: mean distance in 512 px render pixels (official 20; the paper's 20 at 256 = 40)."""
    drop_small_drags: bool = True
    """Per-step drop of each track but the largest with probability 1 - min(1, 2 d_i / d_max) (official dataset)."""
    seed: int = 1024
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    sample_every: int = 200
    sample_steps: int = 25
    svd: str | None = None
    """SVD img2vid folder whose VAE decodes the periodic sample videos (none: no videos)."""

    def __post_init__(self) -> None:
        if self.input_scaling not in INPUT_SCALINGS:
            raise ValueError(f"input_scaling must be one of {', '.join(INPUT_SCALINGS)}, got {self.input_scaling!r}")
        self.drag_rule()

    def drag_rule(self) -> DragSubsetRule:
        """The per-step drag subset rule of these settings."""
        return DragSubsetRule(duplicate_distance=self.duplicate_distance, drop_small=self.drop_small_drags)

    def accumulation_steps(self, processes: int) -> int:
        """Gradient accumulation micro-steps per optimiser step for `processes` processes."""
        per_step = self.batch_size * processes
        if self.effective_batch % per_step:
            raise ValueError(
                f"effective_batch {self.effective_batch} is not a multiple of batch_size x processes = {per_step}"
            )
        return self.effective_batch // per_step


def build_model(config: TrainConfig) -> PuppetMasterUNet:
    """Initialise from SVD (new drag modules seeded by config.seed, zero modulation) or from Puppet-Master weights."""
    from puppet_master.loading import inspect_checkpoint

    if inspect_checkpoint(config.init).kind == "puppet_master":
        return load_unet(config.init)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return unet_from_svd(config.init, config=config.unet_config)


def _checkpoint_dirs(output: Path) -> list[Path]:
    return sorted((output / CHECKPOINTS).glob("step_*"))


class Trainer:
    """Owns the accelerator, model, optimiser, EMA and data for one run (see the module docstring)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.output = Path(config.output)
        cpu = not torch.cuda.is_available()
        self.accelerator = Accelerator(
            mixed_precision="no" if cpu else config.mixed_precision,
            cpu=cpu,
            gradient_accumulation_steps=1,
        )
        self.accumulation = config.accumulation_steps(self.accelerator.num_processes)
        self.accelerator.gradient_accumulation_steps = self.accumulation
        model = build_model(config)
        if config.gradient_checkpointing:
            model.enable_gradient_checkpointing()
        model.train()
        self.ema = EMA(model, config.ema_decay)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.dataset = ClipDataset(*config.data)
        self.draws = ExampleDraws(self.dataset, config.mixture, config.seed, config.drag_rule())
        self.step = 0
        if self.accelerator.is_main_process:
            self.output.mkdir(parents=True, exist_ok=True)
            (self.output / "train_config.json").write_text(json.dumps(asdict(config), indent=2), encoding="utf-8")
        self._resume()

    @property
    def unwrapped(self) -> PuppetMasterUNet:
        """The model without accelerate's wrappers."""
        return self.accelerator.unwrap_model(self.model)

    def _resume(self) -> None:
        checkpoints = _checkpoint_dirs(self.output)
        if not checkpoints:
            return
        latest = checkpoints[-1]
        self.accelerator.load_state(str(latest))
        from safetensors.torch import load_file

        self.ema.load_state_dict(load_file(str(latest / EMA_FILE)))
        self.step = json.loads((latest / STATE_FILE).read_text(encoding="utf-8"))["step"]
        logger.info("resumed from %s at step %d", latest, self.step)

    def _batch(self, micro_step: int) -> tuple[list[torch.Tensor], NoiseDraw]:
        """Examples and noise of one micro-step of this process, from draw-indexed generators."""
        config, accelerator = self.config, self.accelerator
        first = (micro_step * accelerator.num_processes + accelerator.process_index) * config.batch_size
        examples, draws = [], []
        for draw in range(first, first + config.batch_size):
            examples.append(self.draws(draw))
            generator = draw_generator(config.seed, draw, "noise")
            draws.append(
                draw_noise(
                    examples[-1].latents[None].shape, generator, config.p_mean, config.p_std, config.drag_dropout
                )
            )
        device = accelerator.device
        tensors = [
            torch.stack([getattr(e, name) for e in examples]).to(device)
            for name in ("latents", "cond_latent", "embedding", "drags")
        ]
        noise = NoiseDraw(
            sigma=torch.cat([d.sigma for d in draws]),
            noise=torch.cat([d.noise for d in draws]),
            drop_drags=torch.cat([d.drop_drags for d in draws]),
        )
        return tensors, noise

    def train_step(self) -> float:
        """One optimiser step (all accumulation micro-steps); returns the mean micro-batch loss."""
        losses = []
        for micro in range(self.accumulation):
            with self.accelerator.accumulate(self.model):
                tensors, noise = self._batch(self.step * self.accumulation + micro)
                loss = edm_loss(self.model, *tensors, noise, self.config.input_scaling)
                self.accelerator.backward(loss)
                if self.accelerator.sync_gradients:
                    self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad()
                losses.append(loss.detach())
        self.ema.update(self.unwrapped)
        self.step += 1
        return float(torch.stack(losses).mean())

    def save_checkpoint(self) -> Path:
        """Accelerator state (model, Adam, scaler), EMA and step; older checkpoints beyond the limit are removed."""
        from safetensors.torch import save_file

        folder = self.output / CHECKPOINTS / f"step_{self.step:07d}"
        self.accelerator.save_state(str(folder))
        if self.accelerator.is_main_process:
            save_file({k: v.contiguous() for k, v in self.ema.state_dict().items()}, str(folder / EMA_FILE))
            (folder / STATE_FILE).write_text(json.dumps({"step": self.step}), encoding="utf-8")
            for old in _checkpoint_dirs(self.output)[: -self.config.keep_checkpoints]:
                shutil.rmtree(old)
        self.accelerator.wait_for_everyone()
        return folder

    def export_ema(self, path: str | Path | None = None) -> Path:
        """Write the EMA weights as a single file that `puppet_master.loading.load_unet` and the nodes read."""
        path = Path(path) if path is not None else self.output / EXPORT_NAME
        with self.ema.swapped_into(self.unwrapped) as model:
            return save_unet(model, path)

    @torch.no_grad()
    def sample_video(self) -> Path | None:
        """Generate the first clip's drags with the EMA weights (no CFG, as the official visualisation)."""
        if self.config.svd is None or not self.accelerator.is_main_process:
            return None
        from puppet_master.encoders import load_svd_encoders
        from puppet_master.video import draw_drags, save_video

        vae = load_svd_encoders(self.config.svd, device=self.accelerator.device).vae
        example = self.dataset.example(0, torch.Generator().manual_seed(self.config.seed), self.config.drag_rule())
        frames = example.latents.shape[0]
        model = self.unwrapped
        with self.ema.swapped_into(model):
            model.eval()
            video = sample_video(
                model,
                vae,
                example.cond_latent[None],
                example.embedding[None],
                example.drags,
                SamplerSettings(
                    steps=self.config.sample_steps, max_guidance=1.0, seed=self.config.seed, decode_chunk_size=frames
                ),
            )
            model.train()
        present = (example.drags != 0).any(-1).any(0)
        tracks = (example.drags[:, present, 2:] * video.shape[2]).permute(1, 0, 2).numpy()
        return save_video(draw_drags(video, tracks), self.output / "samples" / f"step_{self.step:07d}.mp4")

    def fit(self) -> Path:
        """Train to `config.steps`, with periodic checkpoints and samples; returns the exported EMA file."""
        config = self.config
        while self.step < config.steps:
            loss = self.train_step()
            if self.accelerator.is_main_process:
                logger.info("step %d/%d loss %.5f", self.step, config.steps, loss)
            if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                self.save_checkpoint()
            if config.sample_every and self.step % config.sample_every == 0:
                self.sample_video()
        return self.export_ema()
