"""The studio's panel logic without a browser: Take <-> controls, Generate, Cancel, errors, gallery, sweeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import sorakit
from sorakit.studio import Gallery, Studio, SweepGrid, sweep, sweep_html

SMALL = dict(frames=24, fps=16, width=320, height=192)


def test_every_control_is_a_view_on_the_take(tmp_path: Path) -> None:
    take = sorakit.Take(prompt="a shot", negative_prompt="blur", seed=42, steps=12, guidance_scale=6.5, frames=33,
                        fps=8, width=640, height=368, memory="cpu",
                        physics=sorakit.PhysicsConfig(scene="dominoes", strength=0.4),
                        sound=sorakit.SoundConfig(foley=False), cameo=None)
    studio = Studio(take, out_dir=tmp_path)
    assert studio.take == take
    assert (studio.seed.value, studio.scene.value, studio.size.value) == (42, "dominoes", "640x368")
    studio.guidance_scale.value = 3.0
    studio.scene.value = "ramp"
    studio.strength.value = 0.9
    studio.method.value = "warp"
    changed = studio.take
    assert (changed.guidance_scale, changed.physics.scene, changed.physics.strength) == (3.0, "ramp", 0.9)
    assert changed.physics.method == "warp"
    assert Studio(changed, out_dir=tmp_path).take == changed  # restores exactly
    custom = sorakit.Scene.room("lab").add(sorakit.Ball("ball", 2.0, 2.0, 0.3))
    with_scene = take.replace(physics=sorakit.PhysicsConfig(scene=custom))
    assert Studio(with_scene, out_dir=tmp_path).take == with_scene


def test_generate_shows_the_clip_and_saves_it(tmp_path: Path) -> None:
    studio = Studio(sorakit.Take(seed=3, **SMALL), out_dir=tmp_path)
    clip = studio.generate_button.click() or studio.last
    assert clip is not None and clip.frames.shape == (24, 192, 320, 3)
    assert '<video controls' in studio.result.value and studio.error.value == ""
    assert studio.progress.value == studio.progress.max == 24 and studio.progress.bar_style == "success"
    assert studio.preview.value[:8] == b"\x89PNG\r\n\x1a\n"
    saved = studio.saved[0]
    assert saved.parent == tmp_path and saved.with_suffix(".json").is_file()
    assert sorakit.load(saved).take == studio.take
    studio.lock.value = False  # an unlocked seed draws a new one per take
    studio.run()
    assert studio.clips[-1].take.seed != 3


def test_cancel_stops_within_one_step(tmp_path: Path) -> None:
    studio = Studio(sorakit.Take(**{**SMALL, "frames": 40}), out_dir=tmp_path)
    import sorakit.studio as module

    steps: list[int] = []
    real = module._ui_events

    class Clicks:  # stands in for jupyter-ui-poll: the Cancel click arrives while step 5 is processed
        def __enter__(self):  # type: ignore[no-untyped-def]
            def poll(n: int) -> None:
                steps.append(studio.progress.value)
                if studio.progress.value == 5:
                    studio.cancel_button.click()
            return poll

        def __exit__(self, *exc: object) -> None:
            return None

    module._ui_events = lambda: Clicks()  # type: ignore[assignment]
    try:
        clip = studio.run()
    finally:
        module._ui_events = real
    assert clip is not None and clip.provenance.status == "stopped after step 5 of 40"
    assert clip.frames.shape[0] == 5 and steps[-1] == 5
    assert studio.progress.bar_style == "warning" and not studio.generate_button.disabled
    assert studio.cancel_button.disabled


def test_errors_appear_in_the_panel(tmp_path: Path) -> None:
    studio = Studio(sorakit.Take(**SMALL), out_dir=tmp_path)
    studio.model.value = "wan2.1-t2v-1.3b"  # the panel follows the model: its card's size, length and schedule
    assert (studio.size.value, studio.frames.value, studio.fps.value, studio.steps.value) == ("832x480", 81, 16, 50)
    assert studio.negative_prompt.value.startswith("Bright tones")
    studio.frames.value = 24
    assert studio.run() is None
    assert "frames=24: wan2.1-t2v-1.3b needs 4n+1 frames; use 21 or 25" in studio.error.value
    assert studio.status.value == "failed" and not list(tmp_path.iterdir())
    studio.frames.value = 25  # now the prompt is missing
    studio.run()
    assert "prompt=&#x27;&#x27;: wan2.1-t2v-1.3b needs a prompt" in studio.error.value


def test_gallery_views_compares_reuses_and_deletes(tmp_path: Path) -> None:
    studio = Studio(sorakit.Take(seed=1, **SMALL), out_dir=tmp_path)
    studio.run()
    studio.seed.value = 2
    studio.scene.value = "ramp"
    studio.run()
    gallery = Gallery(studio=studio)
    assert len(gallery.thumbs.children) == 2 and "2 takes in" in gallery.message.value
    gallery.pick.value, gallery.other.value = str(studio.saved[0]), str(studio.saved[1])
    gallery.view()
    assert gallery.viewer.value.count("<video controls") == 1
    gallery.compare()
    assert gallery.viewer.value.count("<video controls") == 2
    studio.seed.value = 99
    gallery.use()
    assert studio.take == sorakit.load(studio.saved[0]).take
    gallery.delete()
    assert not studio.saved[0].exists() and not studio.saved[0].with_suffix(".json").exists()
    assert len(gallery.thumbs.children) == 1


def test_sweep_grid_labels_each_cell_and_keeps_a_pick(tmp_path: Path) -> None:
    take = sorakit.Take(**{**SMALL, "frames": 8})
    grid = sweep(take, seeds=[0, 1], knob="physics.strength", values=[0.0, 1.0])
    assert [[c.take.seed for c in row] for row in grid] == [[0, 0], [1, 1]]
    html = sweep_html(grid, knob="physics.strength", values=[0.0, 1.0])
    assert html.count("<video controls autoplay muted loop") == 4 and "physics.strength = 1.0" in html
    with pytest.raises(ValueError, match="knob='seedz': a sweep varies guidance_scale"):
        sweep(take, seeds=[0], knob="seedz", values=[1])
    with pytest.raises(ValueError, match="frames=0"):
        sweep(take, seeds=[0], knob="frames", values=[8, 0])  # validated before the first render
    panel = SweepGrid(take, seeds=[0, 1], knob="guidance_scale", values=[3.0, 6.0], out_dir=tmp_path)
    assert panel.progress.value == 4 and panel.table.value.count("<video") == 4
    keep = [b for b in panel.children[1].children if "seed 1, guidance_scale=6.0" in b.description][0]
    keep.click()
    assert len(panel.kept) == 1 and sorakit.load(panel.kept[0]).take.guidance_scale == 6.0
    assert sorakit.load(panel.kept[0]).take.seed == 1


def test_the_gallery_passes_over_films_and_damaged_sidecars_and_shows_errors(tmp_path: Path) -> None:
    """A storyboard's film.json (no Take) and a damaged sidecar beside good clips: the gallery lists the
    clips, says it passed the others over, and a click that fails shows its error instead of losing it."""
    from sorakit.studio import Gallery

    good = sorakit.generate(sorakit.Take(seed=3, **SMALL)).save(tmp_path / "good.mp4")
    shutil.copyfile(good, tmp_path / "film.mp4")
    (tmp_path / "film.json").write_text(json.dumps({"format": "sorakit.film/1", "shots": []}))
    shutil.copyfile(good, tmp_path / "broken.mp4")
    (tmp_path / "broken.json").write_text('{"format": "sorakit.clip/1", "take": {"seed": "x"')
    gallery = Gallery(tmp_path)
    assert [label for label, _ in gallery.pick.options] == ["good"]
    assert "1 takes" in gallery.message.value and "2 other files passed over" in gallery.message.value
    gallery.pick.value = str(good)
    good.unlink()  # gone behind the gallery's back: "view" fails, and says why
    gallery.view_button.click()
    assert "NotFound" in gallery.message.value and "good.mp4" in gallery.message.value
