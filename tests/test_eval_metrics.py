"""Evaluation metrics on synthetic cases with known answers, and the CLIP / I3D / perceptual plumbing on
tiny random networks saved to disk and loaded back by path."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from helpers.eval_networks import save_random_alexnet_features, save_tiny_clip, save_tiny_i3d

from fyc.eval import metrics
from fyc.eval.clip_metrics import ClipScorer, load_clip
from fyc.eval.fvd import (
    feature_statistics,
    frechet_distance,
    frechet_distance_of_features,
    fvd,
    load_video_network,
)
from fyc.eval.perceptual import load_perceptual

H = W = 128
FRAMES = 8


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth random colour texture: enough structure for optical flow to lock on."""
    coarse = np.random.default_rng(seed).random((height // 4, width // 4, 3)).astype(np.float32)
    return (cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def moving_patch_video(speed: int, frames: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Static textured background, a 32x32 textured patch moving right `speed` px/frame; returns the video
    and the mask of the area the patch sweeps."""
    background, patch = texture(H, W, 1), texture(32, 32, 2)
    video = []
    for i in range(frames):
        frame = background.copy()
        frame[48:80, 24 + speed * i : 56 + speed * i] = patch
        video.append(frame)
    mask = np.zeros((H, W), bool)
    mask[48:80, 24 : 56 + speed * (frames - 1)] = True
    return np.stack(video), mask


# -- first frame --------------------------------------------------------------------------------------------


def test_first_frame_mse_and_psnr_known_values():
    image = np.full((H, W, 3), 100, np.uint8)
    video = np.full((FRAMES, H, W, 3), 110, np.uint8)
    video[1:] = 0  # only frame 0 counts
    assert metrics.first_frame_mse(image, video) == pytest.approx(100.0)
    assert metrics.first_frame_psnr(image, video) == pytest.approx(10 * math.log10(255**2 / 100.0))
    # floats in [0, 1] are read on the same 0-255 scale
    assert metrics.first_frame_mse(image, video.astype(np.float32) / 255.0) == pytest.approx(100.0)


def test_first_frame_input_is_resized_to_the_video_and_exact_match_is_capped():
    frame = texture(64, 96, 3)
    big = cv2.resize(frame, (192, 128), interpolation=cv2.INTER_NEAREST)  # each pixel a 2x2 block
    video = np.stack([frame] * 3)
    assert metrics.first_frame_mse(big, video) == 0.0
    assert metrics.first_frame_psnr(big, video) == metrics.PSNR_CAP_DB
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        metrics.first_frame_mse(big, video[0])


# -- regional motion ----------------------------------------------------------------------------------------


def test_regional_motion_from_known_magnitudes_and_margin():
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    magnitude = np.zeros((3, 64, 64), np.float32)
    magnitude[:, mask] = 2.0
    out = metrics.regional_motion(magnitude, [mask], margin=8)  # 8 reference px = 2 px at 64-px width
    assert out == {"region_motion": 2.0, "region_leakage": 0.0, "region_leakage_ratio": 0.0}
    halo = metrics.dilate(mask, 2) & ~mask  # inside the margin: not leakage
    magnitude[:, halo] = 5.0
    assert metrics.regional_motion(magnitude, [mask], margin=8)["region_leakage"] == 0.0
    far = np.zeros_like(mask)
    far[0, 0] = True  # one pixel well outside
    magnitude[:, far] = 1.0
    outside = ~metrics.dilate(mask, 2)
    expected = 1.0 / outside.sum()
    out = metrics.regional_motion(magnitude, [mask], margin=8)
    assert out["region_leakage"] == pytest.approx(expected)
    assert out["region_leakage_ratio"] == pytest.approx(expected / 2.0)
    # no region at all: motion inside is undefined, not zero
    assert metrics.regional_motion(magnitude, [np.zeros_like(mask)])["region_motion"] is None


def test_masks_at_input_size_are_resized_to_the_video():
    small = np.zeros((32, 32), bool)
    small[8:24, 8:24] = True
    union = metrics.union_mask([small, np.zeros((256, 256), bool)], (64, 64))
    assert union.sum() == 32 * 32 and union[16:48, 16:48].all()


def test_static_video_has_no_motion_anywhere():
    _, mask = moving_patch_video(2)
    static = np.repeat(texture(H, W, 1)[None], FRAMES, axis=0)
    out = metrics.region_metrics(static, [mask])
    assert out["region_motion"] == pytest.approx(0.0, abs=1e-3)
    assert out["region_leakage"] == pytest.approx(0.0, abs=1e-3)
    assert out["measured_ofm"] == 0.0
    assert out["region_leakage_ratio"] is None


def test_motion_only_inside_the_region_does_not_leak():
    video, mask = moving_patch_video(2)
    out = metrics.region_metrics(video, [mask])
    assert out["region_motion"] > 1.0  # 2 px/frame at 128 px = 4 reference px/frame where the patch is
    assert out["region_leakage"] < 0.05
    assert out["region_leakage_ratio"] < 0.02
    assert metrics.region_motion(video, [mask]) == pytest.approx(out["region_motion"])
    assert metrics.region_leakage(video, [mask]) == pytest.approx(out["region_leakage"])


def test_whole_frame_motion_leaks_as_much_as_it_moves():
    background = texture(H, W, 1)
    pan = np.stack([np.roll(background, i, axis=1) for i in range(FRAMES)])
    _, mask = moving_patch_video(2)
    out = metrics.region_metrics(pan, [mask])
    assert out["region_leakage"] == pytest.approx(1.0 * 256 / W, rel=0.1)  # 1 px/frame at 128 px
    assert out["region_leakage_ratio"] == pytest.approx(1.0, abs=0.1)


# -- OFM fidelity ---------------------------------------------------------------------------------------------


def test_ofm_spearman_known_values():
    assert metrics.ofm_spearman([1, 2, 4, 8], [0.5, 0.9, 3.0, 2.9]) == pytest.approx(0.8)
    assert metrics.ofm_spearman([1, 2, 4], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert metrics.ofm_spearman([1, 2, 4], [0.0, 0.0, 0.0]) is None  # a model that never moves: undefined
    assert metrics.ofm_spearman([4], [4.0]) is None
    with pytest.raises(ValueError, match="equal-length"):
        metrics.ofm_spearman([1, 2], [1.0])


def test_ofm_spearman_of_a_monotone_sweep_measured_by_flow_is_one():
    requested = [1, 2, 3, 4]
    measured = [metrics.region_metrics(moving_patch_video(speed)[0], [])["measured_ofm"] for speed in requested]
    assert measured == sorted(measured)
    assert metrics.ofm_spearman(requested, measured) == 1.0


def test_mean_or_none_skips_unmeasured_values():
    assert metrics.mean_or_none([1.0, None, 3.0]) == 2.0
    assert metrics.mean_or_none([None, None]) is None


# -- Fréchet distance and FVD plumbing ------------------------------------------------------------------------


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    sigma = a @ a.T + np.eye(5)
    mu = rng.normal(size=5)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([3.0, 0, -4.0, 0, 0])  # same covariance: distance = |shift|^2 = 25
    assert frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(25.0, rel=1e-6)
    # diagonal covariances commute: sum (s1 - s2)^2 over standard deviations
    s1, s2 = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    expected = 1.0 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert frechet_distance(np.zeros(3), np.diag(s1**2), np.r_[1.0, 0, 0], np.diag(s2**2)) == pytest.approx(expected)
    # scalars work as 1-D Gaussians
    assert frechet_distance(0.0, 4.0, 1.0, 1.0) == pytest.approx(1.0 + (2.0 - 1.0) ** 2)
    with pytest.raises(ValueError, match="Shapes do not match"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_frechet_distance_of_sampled_features():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20000, 4))
    assert frechet_distance_of_features(x, x) == pytest.approx(0.0, abs=1e-6)
    shifted = rng.normal(size=(20000, 4)) + np.array([1.0, 1.0, 0.0, 0.0])
    assert frechet_distance_of_features(x, shifted) == pytest.approx(2.0, abs=0.05)
    mu, sigma = feature_statistics(x)
    assert mu.shape == (4,) and sigma.shape == (4, 4)
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(x[:1])
    # fewer samples than dimensions: singular covariances still give a finite, non-negative distance
    assert np.isfinite(frechet_distance_of_features(x[:3], shifted[:3]))


class PlainVideoNet(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        return x.mean(dim=(2, 3, 4))  # (B, 3): mean colour per channel


def random_videos(n: int, seed: int, brightness: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, 4, 32, 48, 3)) * 255 * brightness).astype(np.uint8)


def test_torchscript_i3d_is_called_with_the_fvd_convention(tmp_path):
    network = load_video_network(save_tiny_i3d(tmp_path / "i3d_torchscript.pt"), device="cpu")
    assert network.kind == "torchscript"
    videos = random_videos(3, 0)
    features = network.features(videos, batch_size=2)
    assert features.shape == (3, 6)  # return_features=True reached the network
    assert fvd(videos, videos, network) == pytest.approx(0.0, abs=1e-6)
    assert fvd(videos, random_videos(3, 1, brightness=0.3), network) > 0.0
    assert fvd(videos[:1], videos, network) is None  # one clip has no covariance


def test_torchscript_without_fvd_keywords_gets_the_tensor_alone(tmp_path):
    path = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(PlainVideoNet()), str(path))
    network = load_video_network(path, device="cpu")
    grey = np.full((2, 4, 16, 16, 3), 255, np.uint8)
    np.testing.assert_allclose(network.features(grey), np.ones((2, 3)), atol=1e-5)  # 255 -> +1


def test_s3d_state_dict_route_and_bad_files(tmp_path):
    from torchvision.models.video import s3d

    torch.manual_seed(0)
    path = tmp_path / "s3d.pth"
    torch.save(s3d().state_dict(), path)
    network = load_video_network(path, device="cpu", size=64)
    assert network.kind == "s3d" and "S3D" in network.name
    videos = np.random.default_rng(0).integers(0, 256, (2, 8, 32, 32, 3), dtype=np.uint8)
    assert network.features(videos).shape == (2, 1024)  # S3D pools over time: 8 frames at least
    junk = tmp_path / "junk.pth"
    torch.save({"weight": torch.zeros(3)}, junk)
    with pytest.raises(ValueError, match="neither a TorchScript archive nor a torchvision S3D"):
        load_video_network(junk)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_video_network(tmp_path / "missing.pt")


# -- CLIP plumbing ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def test_clip_loads_by_path_and_identical_frames_are_perfectly_consistent(tiny_clip_dir):
    scorer, reason = load_clip(str(tiny_clip_dir), device="cpu")
    assert isinstance(scorer, ClipScorer) and reason == ""
    frame = texture(48, 64, 5)
    assert scorer.temporal_consistency(np.stack([frame] * 5)) == pytest.approx(1.0, abs=1e-5)
    noisy = np.stack([texture(48, 64, s) for s in range(5)])
    assert scorer.temporal_consistency(noisy) < 1.0 - 1e-4
    emb = scorer.image_embeddings(noisy)
    assert emb.shape == (5, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_clip_text_alignment_is_the_mean_text_frame_cosine(tiny_clip_dir):
    scorer, _ = load_clip(str(tiny_clip_dir), device="cpu")
    video = np.stack([texture(48, 64, s) for s in range(3)])
    text = scorer.text_embeddings(["a cat sways"])[0]
    expected = float(np.mean(scorer.image_embeddings(video) @ text))
    assert scorer.text_alignment(video, "a cat sways") == pytest.approx(expected, abs=1e-6)
    assert -1.0 <= expected <= 1.0
    assert scorer.text_alignment(video, "a cat sways") != pytest.approx(scorer.text_alignment(video, "zoom"))
    assert scorer.text_alignment(video.astype(np.float32) / 255.0, "a cat sways") == pytest.approx(expected, abs=1e-6)


def test_clip_absent_means_not_measured_and_a_wrong_path_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load_clip("none") == (None, "skipped (--clip none)")
    scorer, reason = load_clip("nobody/no-such-clip-model")
    assert scorer is None and "pass --clip DIR" in reason
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_clip(str(tmp_path / "missing"))


# -- PIC ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alexnet_features_path(tmp_path_factory):
    return save_random_alexnet_features(tmp_path_factory.mktemp("pic") / "alexnet.pth")


def test_pic_is_one_for_the_input_itself_and_falls_with_distortion(alexnet_features_path):
    perceptual = load_perceptual(alexnet_features_path, device="cpu")
    assert perceptual.arch == "alexnet"
    image = texture(96, 96, 7)
    assert perceptual.pic(image, np.stack([image] * 3)) == pytest.approx(1.0, abs=1e-6)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(3, 96, 96, 3))
    mild = np.clip(image + 10 * noise, 0, 255).astype(np.uint8)
    heavy = np.clip(image + 80 * noise, 0, 255).astype(np.uint8)
    pic_mild, pic_heavy = perceptual.pic(image, mild), perceptual.pic(image, heavy)
    assert 0.0 <= pic_heavy < pic_mild < 1.0
    # the input is resized to the video's size first
    assert perceptual.pic(cv2.resize(image, (192, 192), interpolation=cv2.INTER_NEAREST), np.stack([image] * 2)) == (
        pytest.approx(1.0, abs=1e-6)
    )


def test_pic_network_errors_say_what_to_give(tmp_path):
    with pytest.raises(FileNotFoundError, match="alexnet or vgg16"):
        load_perceptual(tmp_path / "nothing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="not a torchvision alexnet/vgg16"):
        load_perceptual(bad)
