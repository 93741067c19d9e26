"""The training recipe on CPU with the tiny model and a synthetic dataset written here."""

import json
import os
import socket
import subprocess
import sys
from dataclasses import asdict

import pytest
import torch
from diffusers import UNetSpatioTemporalConditionModel
from safetensors.torch import load_file

from puppet_master.diagnostics.selfcheck import tiny_unet_config
from puppet_master.loading import SVD_ARCHITECTURE_KEYS, load_unet, unet_from_svd
from support import REPO
from training.dataset import (
    DEFAULT_MIXTURE,
    ClipDataset,
    ExampleDraws,
    MixtureSampler,
    ShuffledEpochs,
    draw_generator,
    mixture_group,
    tracks_to_drags,
    write_clip,
)
from training.drag_subsets import DragSubsetRule
from training.ema import EMA
from training.loss import draw_noise, edm_loss
from training.train import parse_config
from training.trainer import EXPORT_NAME, TrainConfig, Trainer

FRAMES, LATENT, VIEWS, SAMPLES = 4, 8, 2, 3
DRAG_MODULES = {"drag_embedder_out_channels": [8, 16, 16]}
CATEGORIES = [("drag_a_move", "Laptop"), ("objaverse", "Human-Shape"), ("objaverse", "Animals"), ("objaverse", "Car")]


@pytest.fixture(scope="module")
def svd_unet_folder(tmp_path_factory):
    config = tiny_unet_config()
    torch.manual_seed(0)
    stock = UNetSpatioTemporalConditionModel(**{k: config[k] for k in SVD_ARCHITECTURE_KEYS if k != "sample_size"})
    folder = tmp_path_factory.mktemp("svd_unet") / "unet"
    stock.save_pretrained(folder)
    return folder


def synthetic_clip(generator):
    """Two views of 6 frames, three drag samples (starts 0-2) with 0-7 candidate tracks each in 64 px frames."""
    counts = torch.randint(0, 8, (SAMPLES, VIEWS), generator=generator)
    start = torch.rand(int(counts.sum()), 1, 2, generator=generator) * 48 + 8
    motion = torch.rand(int(counts.sum()), 1, 2, generator=generator) * 16 - 8
    stored = FRAMES + SAMPLES - 1
    return {
        "latent_mean": torch.randn(VIEWS, stored, 4, LATENT, LATENT, generator=generator) * 3,
        "latent_std": torch.rand(VIEWS, stored, 4, LATENT, LATENT, generator=generator) * 0.1,
        "frames": torch.arange(stored),
        "sample_start": torch.arange(SAMPLES),
        "embedding": torch.randn(VIEWS, SAMPLES, 32, generator=generator),
        "track_counts": counts,
        "tracks": start + motion * torch.linspace(0, 1, FRAMES).view(1, FRAMES, 1),
    }


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    generator = torch.Generator().manual_seed(0)
    for index, (source, category) in enumerate(CATEGORIES * 2):
        metadata = {"source": source, "category": category, "source_id": f"id{index}", "render_size": 64, "size": 64}
        write_clip(root / source / f"{index:05d}.safetensors", synthetic_clip(generator), metadata)
    return root


def test_dataset_reads_clips_and_groups(dataset_root):
    dataset = ClipDataset(dataset_root)
    assert len(dataset) == 8
    assert {name: len(members) for name, members in dataset.groups().items()} == {
        "drag_a_move": 2, "human_shape": 2, "animals": 2, "other": 2,
    }  # fmt: skip
    for seed in range(10):
        example = dataset.example(seed % 8, torch.Generator().manual_seed(seed))
        assert example.latents.shape == (FRAMES, 4, LATENT, LATENT) and example.drags.shape == (FRAMES, 5, 4)
        assert example.cond_latent.shape == (4, LATENT, LATENT) and example.embedding.shape == (1, 32)
        present = example.drags.abs().sum((0, 2)) > 0
        assert torch.equal(present, present.sort(descending=True).values)  # filled slots first, zero padding after
        assert torch.equal(example.drags[0, :, :2], example.drags[0, :, 2:])


def test_bad_clips_are_refused_naming_the_field(dataset_root, tmp_path):
    with pytest.raises(ValueError, match="missing latent_std, frames, sample_start, embedding, track_counts, tracks"):
        write_clip(tmp_path / "bad.safetensors", {"latent_mean": torch.zeros(1)}, {})
    good = synthetic_clip(torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match=r"tracks must be \(\d+ = track_counts.sum\(\), frames, 2\)"):
        write_clip(tmp_path / "bad.safetensors", {**good, "tracks": good["tracks"][1:]}, {})
    with pytest.raises(ValueError, match="sample_start 3: frames 3..6 are not all in `frames`"):
        write_clip(tmp_path / "bad.safetensors", {**good, "sample_start": torch.tensor([0, 1, 3])}, {})
    with pytest.raises(ValueError, match=r"embedding must be \(2, 3, D\)"):
        write_clip(tmp_path / "bad.safetensors", {**good, "embedding": torch.zeros(1, 3, 32)}, {})


def test_drag_subsets_are_redrawn_every_step_and_resume_exactly(dataset_root):
    """Draw n is a function of (seed, n) alone: a fresh run started at draw 30 repeats the uninterrupted draws."""
    rule = DragSubsetRule()
    for mixture in (DEFAULT_MIXTURE, None):
        straight = ExampleDraws(ClipDataset(dataset_root), mixture, 7, rule)
        uninterrupted = [straight(n) for n in range(60)]
        resumed = ExampleDraws(ClipDataset(dataset_root), mixture, 7, rule)
        torch.manual_seed(99)  # the global generator plays no part
        for n in range(30, 60):
            again, first = resumed(n), uninterrupted[n]
            assert torch.equal(again.drags, first.drags) and torch.equal(again.latents, first.latents)
        by_clip = {}
        for n in range(60):
            clip = straight.clip(n)
            by_clip.setdefault(clip, set()).add(uninterrupted[n].drags.numpy().tobytes())
        assert max(len(subsets) for subsets in by_clip.values()) > 2  # the same clip, new drags


def test_shuffled_epochs_visit_every_clip_once_per_epoch():
    order = ShuffledEpochs(8, seed=3)
    epochs = [[order(epoch * 8 + k) for k in range(8)] for epoch in range(3)]
    assert all(sorted(epoch) == list(range(8)) for epoch in epochs) and epochs[0] != epochs[1]
    assert [ShuffledEpochs(8, seed=3)(n) for n in (13, 2, 20)] == [epochs[1][5], epochs[0][2], epochs[2][4]]


def test_tracks_become_official_drags():
    tracks = torch.tensor([[[64.0, 32.0], [96.0, 64.0]]])
    drags = tracks_to_drags(tracks, 128)
    assert torch.equal(drags[:, 0], torch.tensor([[0.5, 0.25, 0.5, 0.25], [0.5, 0.25, 0.75, 0.5]]))
    assert mixture_group({"source": "objaverse", "category": "Daily-Used"}) == "daily_used"


def test_mixture_sampler_hits_its_proportions():
    groups = {name: list(range(i * 10, i * 10 + 10)) for i, name in enumerate(DEFAULT_MIXTURE)}
    sampler = MixtureSampler(groups, DEFAULT_MIXTURE, seed=3)
    draws = [sampler(n) for n in range(20000)]
    assert draw_generator(3, 5, "clip").initial_seed() != draw_generator(3, 5, "example").initial_seed()
    for i, (name, weight) in enumerate(DEFAULT_MIXTURE.items()):
        share = sum(i * 10 <= d < i * 10 + 10 for d in draws) / len(draws)
        assert share == pytest.approx(weight, abs=0.012), name
    assert [sampler(n) for n in range(50)] == draws[:50]
    partial = MixtureSampler({"drag_a_move": [0], "other": [1]}, DEFAULT_MIXTURE, seed=0)
    share = sum(partial(n) == 0 for n in range(9000)) / 9000
    assert share == pytest.approx(0.3 / 0.45, abs=0.02)
    with pytest.raises(ValueError, match="unknown mixture groups"):
        MixtureSampler(groups, {"cars": 1.0}, seed=0)


def test_ema_update_is_exact():
    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    ema = EMA(model, decay=0.75)
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update(model)
    assert torch.equal(ema.shadow["weight"], torch.tensor([[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]]))
    live, averaged = model.weight.detach().clone(), ema.shadow["weight"].clone()
    with ema.swapped_into(model):
        assert torch.equal(model.weight, averaged)
    assert torch.equal(model.weight, live) and torch.equal(ema.shadow["weight"], averaged)


def test_input_scalings_differ_exactly_by_c_in(dataset_root, svd_unet_folder):
    """`official` feeds x0 + sigma*eps; `edm` feeds it times c_in; with c_in applied to official's input they agree."""
    torch.manual_seed(0)
    model = unet_from_svd(svd_unet_folder, config=DRAG_MODULES).eval()
    example = ClipDataset(dataset_root).example(1, torch.Generator().manual_seed(0))
    batch = [t[None] for t in (example.latents, example.cond_latent, example.embedding, example.drags)]
    draw = draw_noise(batch[0].shape, torch.Generator().manual_seed(5), drop_prob=0.0)
    c_in_divisor = (draw.sigma.view(-1, 1, 1, 1, 1) ** 2 + 1).sqrt()
    seen = []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    with torch.no_grad():
        edm = edm_loss(model, *batch, draw, "edm")
        official = edm_loss(model, *batch, draw, "official")
    hook.remove()
    assert torch.equal(seen[1], batch[0] + draw.sigma.view(-1, 1, 1, 1, 1) * draw.noise)
    assert torch.equal(seen[0], seen[1] / c_in_divisor) and float(c_in_divisor) > 1.01
    assert not torch.isclose(edm, official, rtol=1e-3)
    hook = model.register_forward_pre_hook(lambda module, args: (args[0] / c_in_divisor, *args[1:]))
    with torch.no_grad():
        assert torch.equal(edm_loss(model, *batch, draw, "official"), edm)
    hook.remove()
    with pytest.raises(ValueError, match="input_scaling must be one of edm, official, got 'none'"):
        edm_loss(model, *batch, draw, "none")


def test_loss_falls_when_overfitting_a_fixed_batch(dataset_root, svd_unet_folder):
    torch.manual_seed(0)
    model = unet_from_svd(svd_unet_folder, config=DRAG_MODULES).train()
    example = ClipDataset(dataset_root).example(1, torch.Generator().manual_seed(0))
    batch = [t[None] for t in (example.latents, example.cond_latent, example.embedding, example.drags)]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(12):
        draw = draw_noise(batch[0].shape, torch.Generator().manual_seed(5), drop_prob=0.0)
        loss = edm_loss(model, *batch, draw)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def config_for(root, init, output, **overrides):
    values = dict(
        data=[str(root)], output=str(output), init=str(init), unet_config=DRAG_MODULES, steps=4,
        effective_batch=2, batch_size=1, learning_rate=1e-4, gradient_checkpointing=False, checkpoint_every=2,
        sample_every=0, seed=7,
    )  # fmt: skip
    return TrainConfig(**{**values, **overrides})


def test_resume_continues_exactly_like_an_uninterrupted_run(dataset_root, svd_unet_folder, tmp_path):
    """Two optimiser steps straight = one step, a new process resuming from its checkpoint, one more step."""
    straight = Trainer(config_for(dataset_root, svd_unet_folder, tmp_path / "a", steps=2, checkpoint_every=1))
    straight.fit()
    Trainer(config_for(dataset_root, svd_unet_folder, tmp_path / "b", steps=1, checkpoint_every=1)).fit()
    resumed = Trainer(config_for(dataset_root, svd_unet_folder, tmp_path / "b", steps=2, checkpoint_every=1))
    assert resumed.step == 1
    resumed.fit()
    for (name, a), (_, b) in zip(
        straight.unwrapped.named_parameters(), resumed.unwrapped.named_parameters(), strict=True
    ):
        assert torch.equal(a, b), name
    assert all(torch.equal(straight.ema.shadow[k], resumed.ema.shadow[k]) for k in straight.ema.shadow)
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == ["step_0000001", "step_0000002"]


def test_official_input_scaling_reaches_the_model_and_exported_ema_weights_load_strictly(
    dataset_root, svd_unet_folder, tmp_path
):
    config = config_for(
        dataset_root, svd_unet_folder, tmp_path / "run", steps=1, checkpoint_every=1, input_scaling="official"
    )
    trainer = Trainer(config)
    seen = []
    trainer.unwrapped.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    exported = trainer.fit()
    example = trainer.draws(0)
    noise = draw_noise(example.latents[None].shape, draw_generator(config.seed, 0, "noise"))
    unscaled = example.latents[None] + noise.sigma.view(-1, 1, 1, 1, 1) * noise.noise
    assert len(seen) == 2 and torch.equal(seen[0], unscaled)
    assert exported == tmp_path / "run" / EXPORT_NAME
    loaded = load_unet(exported)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in trainer.ema.shadow.items())
    assert loaded.config.drag_embedder_out_channels == [8, 16, 16]


def test_periodic_sample_video(dataset_root, svd_unet_folder, tiny_svd_folder, tmp_path):
    config = config_for(dataset_root, svd_unet_folder, tmp_path / "run", steps=1, sample_every=1, sample_steps=2)
    config.svd = str(tiny_svd_folder)
    Trainer(config).fit()
    assert (tmp_path / "run" / "samples" / "step_0000001.mp4").stat().st_size > 0


def test_two_processes_train_exactly_like_one_process_with_accumulation(dataset_root, svd_unet_folder, tmp_path):
    """`accelerate launch` with 2 CPU processes (gloo on loopback) = 1 process accumulating 2 micro-batches."""
    config = asdict(config_for(dataset_root, svd_unet_folder, tmp_path, steps=2, checkpoint_every=2, mixture=None))
    config_file = tmp_path / "train.json"
    config_file.write_text(json.dumps({k: v for k, v in config.items() if k != "output"}), encoding="utf-8")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    train = ["-m", "training.train", "--config", str(config_file), "--output"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "2",
        "--cpu",
        "--num_machines",
        "1",
    ]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", port]
    runs = {
        "one": [sys.executable, *train, str(tmp_path / "one")],
        "two": [*launch, *train, str(tmp_path / "two")],
    }
    for name, command in runs.items():
        result = subprocess.run(
            command, env=environment, cwd=REPO, capture_output=True, text=True, timeout=300, encoding="utf-8"
        )
        assert result.returncode == 0, name + result.stderr[-3000:]
    one, two = (load_file(str(tmp_path / run / "checkpoints" / "step_0000002" / "model.safetensors")) for run in runs)
    initial = unet_from_svd(svd_unet_folder, config=DRAG_MODULES)
    assert one.keys() == two.keys()
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert not torch.equal(one["conv_in.weight"], initial.state_dict()["conv_in.weight"])


def test_config_errors_are_clear(dataset_root, svd_unet_folder, tmp_path):
    with pytest.raises(ValueError, match="effective_batch 3 is not a multiple"):
        config_for(dataset_root, svd_unet_folder, tmp_path, effective_batch=3, batch_size=2).accumulation_steps(1)
    config_file = tmp_path / "train.json"
    config_file.write_text(json.dumps({"data": ["x"], "output": "o", "init": "i", "steps": 9}), encoding="utf-8")
    assert parse_config(["--config", str(config_file), "--steps", "3"]).steps == 3
    parsed = parse_config(["--config", str(config_file), "--mixture", "uniform", "--input-scaling", "official"])
    assert parsed.mixture is None and parsed.input_scaling == "official"
    assert parse_config(["--config", str(config_file)]).mixture == DEFAULT_MIXTURE
    with pytest.raises(SystemExit):
        parse_config(["--data", "x"])
    with pytest.raises(ValueError, match="input_scaling must be one of edm, official, got 'c_in'"):
        config_for(dataset_root, svd_unet_folder, tmp_path, input_scaling="c_in")
    with pytest.raises(ValueError, match="duplicate_distance must be >= 0 pixels"):
        config_for(dataset_root, svd_unet_folder, tmp_path, duplicate_distance=-2.0)
