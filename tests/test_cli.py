import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import PIL.Image
import pytest
from tiny import make_tiny_pipeline

from fyc.__main__ import main
from fyc.animate import forward_and_back
from fyc.cli.animate import collect_objects, parse_click
from fyc.video import read_video
from fyc.weights import save_pipeline


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipe")
    save_pipeline(make_tiny_pipeline(), path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.RandomState(0)
    PIL.Image.fromarray((rng.rand(48, 80, 3) * 255).astype(np.uint8)).save(root / "image.png")
    mask = np.zeros((48, 80), np.uint8)
    mask[10:30, 20:50] = 255
    PIL.Image.fromarray(mask).save(root / "mask.png")
    return root


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "fyc", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("animate", "download", "train", "prepare", "captions", "eval"):
        assert command in out.stdout


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_animate_with_a_mask_writes_a_video(saved_pipeline, files, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    code = main(
        [
            "animate",
            str(files / "image.png"),
            "--mask",
            str(files / "mask.png"),
            "--prompt",
            "sway",
            "--ofm",
            "4",
            "--frames",
            "4",
            "--steps",
            "2",
            "--weights",
            str(saved_pipeline),
            "-o",
            str(out),
        ]
    )
    assert code == 0 and out.exists()
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 4 and frames.shape[-1] == 3


def test_objects_are_grouped_by_prompt():
    spec = [
        ("click", (1, 2, 1)),
        ("prompt", "sway"),
        ("click", (3, 4, 1)),
        ("click", (5, 6, 0)),
        ("prompt", "move left"),
    ]
    objects = collect_objects(spec)
    assert [o["prompt"] for o in objects] == ["sway", "move left"]
    assert objects[1]["points"] == [(3, 4, 1), (5, 6, 0)]
    with pytest.raises(ValueError, match="no --click"):
        collect_objects([("prompt", "sway")])
    with pytest.raises(ValueError, match="no --prompt after it"):
        collect_objects([("click", (1, 2, 1))])
    with pytest.raises(ValueError, match="nothing to animate"):
        collect_objects([])
    assert parse_click("3,4") == (3.0, 4.0, 1) and parse_click("3,4,0") == (3.0, 4.0, 0)
    for bad in ("3", "a,b", "1,2,5"):
        with pytest.raises(Exception):
            parse_click(bad)


def test_animate_refuses_bad_arguments_with_exit_code_2(saved_pipeline, files, tmp_path, capsys):
    base = ["animate", str(files / "image.png"), "--weights", str(saved_pipeline)]
    assert main(base + ["--prompt", "sway"]) == 2
    assert "no --click" in capsys.readouterr().err
    assert main(base + ["--mask", str(files / "mask.png"), "--prompt", "sway", "-o", str(tmp_path / "x.avi")]) == 2
    assert ".mp4 or .gif" in capsys.readouterr().err
    assert (
        main(
            base
            + [
                "--mask",
                str(files / "mask.png"),
                "--prompt",
                "sway",
                "--ofm",
                "-3",
                "--steps",
                "1",
                "-o",
                str(tmp_path / "x.gif"),
            ]
        )
        == 2
    )
    assert "ofm" in capsys.readouterr().err
    assert main(["animate", str(tmp_path / "missing.png"), "--mask", str(files / "mask.png"), "--prompt", "sway"]) == 2
    assert "missing.png" in capsys.readouterr().err


def test_animate_with_clicks_goes_through_the_segmenter(saved_pipeline, tmp_path, capsys):
    # a bright square on a dark textured background: one click inside selects it (classical segmenter, no SAM)
    rng = np.random.RandomState(1)
    image = (rng.rand(64, 96, 3) * 60).astype(np.uint8)
    image[16:48, 30:62] = (220, 180, 40)
    PIL.Image.fromarray(image).save(tmp_path / "square.png")
    out = tmp_path / "clicked.gif"
    code = main(
        [
            "animate",
            str(tmp_path / "square.png"),
            "--click",
            "46,32",
            "--prompt",
            "shake",
            "--frames",
            "4",
            "--steps",
            "1",
            "--weights",
            str(saved_pipeline),
            "-o",
            str(out),
        ]
    )
    assert code == 0 and out.exists()
    assert "segmenter: classical" in capsys.readouterr().err


# ---- the motion-field model --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_field_pipeline(tmp_path_factory):
    from tiny import make_tiny_field_pipeline

    path = tmp_path_factory.mktemp("field")
    save_pipeline(make_tiny_field_pipeline(tokenizer_dir=tmp_path_factory.mktemp("tok")), path)
    return path


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("photo")
    yy, xx = np.mgrid[:90, :150]
    image = np.stack([xx * 1.6, yy * 2.5, np.full_like(xx, 90)], -1).astype(np.uint8)  # smooth: H.264 keeps it
    PIL.Image.fromarray(image).save(root / "photo.png")
    mask = np.zeros((90, 150), np.uint8)
    mask[20:60, 30:80] = 255
    PIL.Image.fromarray(mask).save(root / "mask.png")
    return root


def animate_nod(photo_file) -> list[str]:
    """The start of `animate` of `photo_file`'s photo with its mask as one object prompted "nod"."""
    return ["animate", str(photo_file / "photo.png"), "--mask", str(photo_file / "mask.png"), "--prompt", "nod"]


def test_motion_field_model_video_at_the_photos_size_with_a_drag(saved_field_pipeline, photo_file, tmp_path, capsys):
    out = tmp_path / "field.mp4"
    options = ["--drag", "50,40,70,45", "--frames", "4", "--steps", "2", "--weights", str(saved_field_pipeline)]
    code = main([*animate_nod(photo_file), *options, "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    frames, meta = read_video(out)
    assert frames.shape == (4, 90, 150, 3) and meta["codec"].startswith("h264")
    # outside the region's reach every frame is the photo (the renderer keeps the background exact)
    photo = np.asarray(PIL.Image.open(photo_file / "photo.png"))
    assert np.abs(frames[:, 75:, :].astype(int) - photo[75:, :].astype(int)).mean() < 4  # H.264 at crf 18


def test_loop_plays_forward_then_back(saved_field_pipeline, photo_file, tmp_path, capsys):
    out = tmp_path / "loop.mp4"
    options = ["--frames", "4", "--steps", "1", "--loop", "--weights", str(saved_field_pipeline)]
    assert main([*animate_nod(photo_file), *options, "-o", str(out)]) == 0, capsys.readouterr().err
    frames, _ = read_video(out)
    assert len(frames) == 6  # 0 1 2 3 2 1: back to the start without repeating an end
    assert np.abs(frames[4].astype(int) - frames[2].astype(int)).mean() < 1.0
    assert np.abs(frames[5].astype(int) - frames[1].astype(int)).mean() < 1.0


def test_forward_and_back():
    frames = np.arange(5)[:, None]
    assert forward_and_back(frames)[:, 0].tolist() == [0, 1, 2, 3, 4, 3, 2, 1]
    assert forward_and_back(frames[:2]).tolist() == frames[:2].tolist()


def test_collect_objects_attaches_drags(capsys):
    spec = [("click", (1, 2, 1)), ("drag", (1, 2, 3, 4)), ("prompt", "nod"), ("drag", (5, 6, 7, 8))]
    assert collect_objects(spec)[0]["drags"] == [(1, 2, 3, 4), (5, 6, 7, 8)]
    with pytest.raises(ValueError, match="no --prompt after it"):
        collect_objects([("click", (1, 2, 1)), ("prompt", "nod"), ("click", (1, 2, 1)), ("drag", (1, 2, 3, 4))])


def test_drags_and_strengths_are_checked(saved_field_pipeline, saved_pipeline, photo_file, tmp_path, capsys):
    base = [*animate_nod(photo_file), "--frames", "4", "--steps", "1", "-o", str(tmp_path / "x.gif")]
    assert main(base + ["--drag", "50,40,500,45", "--weights", str(saved_field_pipeline)]) == 2
    assert "outside the 150×90 image" in capsys.readouterr().err
    assert main(base + ["--ofm", "15", "--weights", str(saved_field_pipeline)]) == 2
    assert "between 0.5 and 12" in capsys.readouterr().err
    assert main(base + ["--drag", "50,40,60,45", "--weights", str(saved_pipeline)]) == 2
    assert "does not follow drags" in capsys.readouterr().err


def test_keypoints_file(saved_field_pipeline, saved_pipeline, photo_file, tmp_path, capsys):
    pose = tmp_path / "pose.json"
    pose.write_text('{"frames": [{"hand": [60, 30]}, {"hand": [66, 26]}, {"hand": [72, 22]}]}')
    base = [*animate_nod(photo_file), "--frames", "4", "--steps", "1", "--keypoints", str(pose)]
    out = tmp_path / "pose.mp4"
    assert main(base + ["--weights", str(saved_field_pipeline), "-o", str(out)]) == 0, capsys.readouterr().err
    assert read_video(out)[0].shape == (4, 90, 150, 3)
    assert main(base + ["--weights", str(saved_pipeline), "-o", str(out)]) == 2
    assert "does not follow keypoints" in capsys.readouterr().err
    pose.write_text('{"frames": [{"hand": [5, 5]}, {"hand": [6, 6]}]}')  # on the background
    assert main(base + ["--weights", str(saved_field_pipeline), "-o", str(out)]) == 2
    assert "none of them is inside a clicked region" in capsys.readouterr().err


def test_control_frames_through_a_controlnet(saved_field_pipeline, saved_pipeline, photo_file, tmp_path, capsys):
    from fyc.controlnet import controlnet_like
    from fyc.weights import load_pipeline

    pipe = load_pipeline(saved_pipeline)
    controlnet_like(pipe.unet, pipe.vae_scale_factor, seed=0).save_pretrained(tmp_path / "controlnet")
    pose = tmp_path / "pose"
    pose.mkdir()
    for i in range(3):
        frame = np.zeros((90, 150, 3), np.uint8)
        frame[30 - 5 * i : 34 - 5 * i, 40:90] = 255
        PIL.Image.fromarray(frame).save(pose / f"{i}.png")
    base = [*animate_nod(photo_file), "--frames", "4", "--steps", "1", "--control-frames", str(pose)]
    out = tmp_path / "control.mp4"
    code = main(base + ["--weights", str(saved_pipeline), "--controlnet", str(tmp_path / "controlnet"), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert read_video(out)[0].shape[0] == 4
    assert main(base + ["--weights", str(saved_pipeline), "--controlnet", str(tmp_path / "none"), "-o", str(out)]) == 2
    assert "fyc download controlnet-openpose" in capsys.readouterr().err
    assert main(base + ["--weights", str(saved_field_pipeline), "-o", str(out)]) == 2
    assert "the first frame shows no keypoint" in capsys.readouterr().err  # white bars are no OpenPose drawing
