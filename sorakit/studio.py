"""The notebook studio: a panel that is a view on a Take, a gallery of takes, and sweep grids.

Every control of ``Studio`` edits one field of a ``Take``; ``studio.take`` reads them all and
``Studio(take)`` sets them. Generate runs ``sorakit.generate`` in the cell's own thread and,
from the step callback, processes pending widget events (jupyter-ui-poll), so the Cancel
button is delivered while the cell runs, in Colab too; nothing updates widgets from threads.
Every finished clip is saved (mp4 + sidecar) into ``out_dir`` as soon as it is made.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput, SoundtrackFailed

import contextlib
import dataclasses
import datetime as _dt
import functools
import html
import io
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import numpy as np

if TYPE_CHECKING:
    from sorakit.farm import Farm, Status
    from sorakit.best import Ranking

from sorakit import models
from sorakit.clip import Clip, load
from sorakit.display import DEFAULT_MAX_BYTES, clip_html
from sorakit.physics.presets import PRESETS
from sorakit.take import MEMORY_PRESETS, PHYSICS_METHODS, PhysicsConfig, Take

SIZES = {"832x480": (832, 480), "480x832": (480, 832), "640x368": (640, 368), "512x320": (512, 320),
         "416x240": (416, 240), "320x192": (320, 192), "1280x720": (1280, 720)}


def enable_colab() -> None:
    """Turns on Colab's custom widget manager (needed for ipywidgets 8 there); elsewhere does nothing."""
    if "google.colab" in sys.modules:
        from google.colab import output  # type: ignore[import-not-found, import-untyped, unused-ignore]

        output.enable_custom_widget_manager()


def default_out_dir() -> Path:
    """``/content/drive/MyDrive/sorakit`` when Google Drive is mounted in Colab, else ``./sorakit-outputs``."""
    drive = Path("/content/drive/MyDrive")
    return drive / "sorakit" if drive.is_dir() else Path("sorakit-outputs")


def clip_name(clip: Clip) -> str:
    """A file name that sorts by time and says the model and seed: ``20261125-101500-123_previz_s7.mp4``.

    Always one plain name in the folder: in the model's name (its first 64 characters) anything but ASCII
    letters, digits, '-' and '.' becomes '-', so a model called '../x' or '/etc' names no other folder.
    """
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
    model = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-." else "-" for ch in str(clip.take.model)[:64])
    seed = clip.take.seed
    return f"{stamp}_{model}_s{seed if isinstance(seed, int) and abs(seed) < 2**64 else '-'}.mp4"


@contextlib.contextmanager
def _ui_events() -> Iterator[Callable[[int], None]]:
    """``poll(n)`` processes up to n pending widget messages while a cell runs (no-op outside a kernel)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or not hasattr(shell, "kernel"):
            raise RuntimeError
        from jupyter_ui_poll import ui_events
    except (ImportError, RuntimeError):
        yield lambda n: None
        return
    with ui_events() as poll:
        yield poll


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


class Studio(w.VBox):  # type: ignore[misc]
    """One panel for one Take: knobs, Generate and Cancel, live progress and preview, the result with sound.

    >>> studio = Studio(Take(seed=7, frames=32))
    >>> studio.seed.value, studio.take == Take(seed=7, frames=32).resolved()  # unset knobs show the card's
    (7, True)

    Args:
        take: the Take to start from (default: ``Take()``, the basketball previz).
        out_dir: where every finished clip is saved (Google Drive's ``MyDrive/sorakit`` on Colab when mounted).
        max_bytes: cap for the embedded result video.
    """

    def __init__(self, take: Take | None = None, *, out_dir: str | Path | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        enable_colab()
        take = take or Take()
        self.out_dir = Path(out_dir) if out_dir is not None else default_out_dir()
        self.max_bytes = max_bytes
        self.clips: list[Clip] = []
        self.saved: list[Path] = []
        self.last: Clip | None = None
        self._stop = False
        self._extra = take  # fields without a control (cameo, first frame, dialogue, custom scene) ride along
        wide = {"width": "100%"}
        label = {"description_width": "90px"}
        self.prompt = w.Textarea(description="prompt", layout=wide, style=label, rows=2)
        self.negative_prompt = w.Textarea(description="negative", layout=wide, style=label, rows=1)
        self.seed = w.BoundedIntText(description="seed", min=0, max=2**32 - 1, style=label)
        self.lock = w.ToggleButton(description="lock", value=True, icon="lock", tooltip="keep the seed between takes")
        self.dice = w.Button(description="dice", icon="random", tooltip="draw a new seed")
        # the ranges validate() allows, so a Take from the Gallery comes back unchanged
        self.steps = w.IntSlider(description="steps", min=1, max=200, style=label)
        self.guidance_scale = w.FloatSlider(description="guidance", min=0.0, max=30.0, step=0.5, style=label)
        self.frames = w.BoundedIntText(description="frames", min=1, max=960, style=label)
        self.fps = w.BoundedIntText(description="fps", min=1, max=120, style=label)
        self._sizes = dict(SIZES)  # this panel's sizes: a Take's own size is added here, not globally
        self.size = w.Dropdown(description="size", options=list(self._sizes), style=label)
        self.model = w.Dropdown(description="model", options=self._models(take.model), style=label)
        self.mode = w.Dropdown(description="mode", options=["t2v", "i2v", "v2v", "vace"], style=label)
        self.memory = w.Dropdown(description="memory", options=list(MEMORY_PRESETS), style=label)
        self.scene = w.Dropdown(description="scene", options=["(none)", *PRESETS], style=label)
        self.strength = w.FloatSlider(description="physics", min=0.0, max=1.0, step=0.05, style=label,
                                      tooltip="physics guidance strength (0 = off)")
        self.method = w.Dropdown(description="method", options=list(PHYSICS_METHODS), style=label,
                                 tooltip="how the scene steers the model: auto picks Time-to-Move where it can")
        self.foley = w.Checkbox(description="Foley from collisions")
        self.ambience = w.Text(description="ambience", placeholder="AudioGen prompt, e.g. a busy gym; empty for none",
                               layout=wide, style=label)
        self.music = w.Text(description="music", placeholder="MusicGen prompt, e.g. upbeat funk; empty for none",
                            layout=wide, style=label)
        self.generate_button = w.Button(description="Generate", button_style="primary", icon="play")
        self.best_n = w.BoundedIntText(description="best of", value=4, min=2, max=16, style=label,
                                       layout={"width": "160px"}, tooltip="takes (seeds) to rank by physics score")
        self.best_button = w.Button(description="Best of N", icon="trophy",
                                    tooltip="render N seeds, rank them by the physics report's score")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, layout={"width": "60%"})
        self.status = w.HTML("ready")
        self.preview = w.Image(format="png", layout={"max_width": "256px"})
        self.error = w.HTML("")
        self.result = w.HTML("")
        self.dice.on_click(lambda _: self.roll())
        self.generate_button.on_click(lambda _: self.run())
        self.best_button.on_click(lambda _: self.best())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.take = take
        self.model.observe(lambda change: self.follow_model(change["new"]), names="value")
        super().__init__([
            self.prompt, self.negative_prompt,
            w.HBox([self.seed, self.lock, self.dice]),
            w.HBox([self.steps, self.guidance_scale]),
            w.HBox([self.frames, self.fps, self.size]),
            w.HBox([self.model, self.mode, self.memory]),
            w.HBox([self.scene, self.strength, self.method, self.foley]),
            self.ambience, self.music,
            w.HBox([self.generate_button, self.cancel_button, self.progress, self.status]),
            w.HBox([self.best_n, self.best_button]),
            self.preview, self.error, self.result,
        ])

    @staticmethod
    def _models(current: str) -> list[str]:
        names = sorted(models.MODELS)
        return names if current in names else [*names, current]

    # -- the Take <-> controls ---------------------------------------------------------------
    @property
    def take(self) -> Take:
        """The Take the controls show (fields without a control come from the last Take set)."""
        scene_choice = self.scene.value
        old_scene = self._extra.physics.scene
        if scene_choice == "(none)":
            scene = None
        elif not isinstance(old_scene, str) and old_scene is not None and scene_choice == old_scene.name:
            scene = old_scene  # a custom Scene stays itself
        else:
            scene = scene_choice
        width, height = self._sizes[self.size.value]
        return self._extra.replace(
            prompt=self.prompt.value, negative_prompt=self.negative_prompt.value, seed=int(self.seed.value),
            steps=int(self.steps.value), guidance_scale=float(self.guidance_scale.value),
            frames=int(self.frames.value), fps=int(self.fps.value), width=width, height=height,
            model=self.model.value, mode=self.mode.value, memory=self.memory.value,
            physics=PhysicsConfig(scene=scene, strength=float(self.strength.value), trail=self._extra.physics.trail,
                                  method=str(self.method.value)),
            sound=dataclasses.replace(self._extra.sound, foley=bool(self.foley.value), ambience=self.ambience.value,
                                      music=self.music.value))

    @take.setter
    def take(self, take: Take) -> None:
        self._extra = take
        take = take.resolved()  # knobs left unset show the model card's values
        self._add_size(take.size)
        size = "{}x{}".format(*take.size)
        scene = take.physics.scene
        name = "(none)" if scene is None else scene if isinstance(scene, str) else scene.name
        if name not in self.scene.options:
            self.scene.options = [*self.scene.options, name]
        if take.model not in self.model.options:
            self.model.options = self._models(take.model)
        self.prompt.value, self.negative_prompt.value = take.prompt, take.negative_prompt
        self.seed.value, self.steps.value = take.seed, take.steps
        self.guidance_scale.value, self.frames.value, self.fps.value = take.guidance_scale, take.frames, take.fps
        self._following = True  # setting the model here keeps the Take's own knobs
        try:
            self.size.value, self.model.value, self.mode.value = size, take.model, take.mode
        finally:
            self._following = False
        self.memory.value, self.scene.value = take.memory, name
        self.strength.value, self.foley.value = take.physics.strength, take.sound.foley
        if take.physics.method in PHYSICS_METHODS:
            self.method.value = take.physics.method
        self.ambience.value, self.music.value = take.sound.ambience, take.sound.music

    def _add_size(self, size: tuple[int, int]) -> None:
        name = f"{size[0]}x{size[1]}"
        if name not in self._sizes:
            self._sizes[name] = size
            self.size.options = list(self._sizes)

    def follow_model(self, name: str) -> None:
        """Fills size, frames, fps, steps, guidance and negative prompt from model ``name``'s card.

        Called when the model dropdown changes (not when a whole Take is set), so picking a model
        starts from what its authors run.
        """
        if getattr(self, "_following", False) or name not in models.MODELS:
            return
        card = models.MODELS[name].card
        self._add_size((card.width, card.height))
        self.size.value = f"{card.width}x{card.height}"
        self.frames.value, self.fps.value, self.steps.value = card.frames, card.fps, card.steps
        self.guidance_scale.value, self.negative_prompt.value = card.guidance_scale, card.negative_prompt

    # -- actions -----------------------------------------------------------------------------
    def roll(self) -> int:
        """Draws a new seed into the seed box and returns it."""
        self.seed.value = random.randrange(2**32)
        return int(self.seed.value)

    def cancel(self) -> None:
        """Asks the running generation to stop after its current step."""
        self._stop = True
        self.status.value = "stopping after this step…"

    def run(self) -> Clip | None:
        """Generate: validates, renders with live progress, saves, shows the result; errors show in the panel."""
        from sorakit.generate import Step, generate

        if not self.lock.value:
            self.roll()
        take = self._valid_take()
        if take is None:
            return None
        self._stop = False
        self.generate_button.disabled, self.cancel_button.disabled = True, False
        self.progress.value, self.progress.max, self.progress.bar_style = 0, 1, ""
        self.status.value = "loading…"
        clip = None
        with _ui_events() as poll:

            def on_step(s: Step) -> None:
                self.progress.max, self.progress.value = s.total, s.step
                self.status.value = (f"step {s.step}/{s.total} · {s.seconds_per_step:.2f} s/step · "
                                     f"ETA {s.eta:.0f} s")
                if s.preview is not None and (s.step == s.total or s.step % max(1, s.total // 12) == 0):
                    self.preview.value = _png(s.preview[:: max(1, s.preview.shape[0] // 256),
                                                        :: max(1, s.preview.shape[1] // 256)])
                poll(16)  # deliver Cancel clicks while the cell runs

            def on_sound(track: str, done: int, total: int) -> None:
                self.progress.max, self.progress.value = total, done
                self.status.value = f"{track} {done}/{total}"
                poll(16)

            try:
                clip = generate(take, on_step=on_step, should_stop=lambda: self._stop, on_sound=on_sound)
                path = clip.save(self.out_dir / clip_name(clip))
            except SoundtrackFailed as exc:  # the video was made: keep it, with the sound that was made
                self._fail(exc)
                clip = exc.clip if isinstance(exc.clip, Clip) else None
                if clip is not None:
                    path = clip.save(self.out_dir / clip_name(clip))
            except Exception as exc:  # shown in the panel, never lost in a log
                self._fail(exc)
                clip = None
            finally:
                self.generate_button.disabled, self.cancel_button.disabled = False, True
        if clip is None:
            return None
        self.clips.append(clip)
        self.saved.append(path)
        self.last = clip
        self.progress.bar_style = "success" if clip.provenance.status == "complete" else "warning"
        self.status.value = f"{clip.provenance.status} · saved {path.name}" + _physics(clip)
        self.result.value = clip_html(clip, max_bytes=self.max_bytes)
        return clip

    def best(self) -> Ranking | None:
        """Best of N: renders ``best_n`` seeds from this seed, ranks them by physics score, shows the
        grid and keeps the best as ``last``. Takes are saved under ``out_dir/best_of``; a rerun resumes."""
        from sorakit.best import Entry, best_of
        from sorakit.display import ranking_html

        take = self._valid_take()
        if take is None:
            return None
        self.generate_button.disabled = self.best_button.disabled = True
        self.progress.value, self.progress.max, self.progress.bar_style = 0, int(self.best_n.value), ""
        self.status.value = f"best of {self.best_n.value}: rendering…"
        ranking = None
        with _ui_events() as poll:

            def on_take(done: int, total: int, entry: Entry) -> None:
                self.progress.value = done
                self.status.value = (f"take {done}/{total} · seed {entry.seed} · physics {entry.score.total:.1f}"
                                     + (" (resumed)" if entry.resumed else ""))
                poll(16)

            try:
                ranking = best_of(take, int(self.best_n.value), folder=self.out_dir / "best_of", on_take=on_take,
                                  progress=False)
            except Exception as exc:
                self._fail(exc)
            finally:
                self.generate_button.disabled = self.best_button.disabled = False
        if ranking is None:
            return None
        self.last = ranking.best.clip()
        self.progress.bar_style = "success"
        self.status.value = f"best: seed {ranking.best.seed} · physics {ranking.best.score.total:.1f}"
        self.result.value = ranking_html(ranking, max_bytes=self.max_bytes)
        return ranking

    def _valid_take(self) -> Take | None:
        """The panel's Take, validated; None when it is refused (the reason shows in the panel)."""
        self.error.value = ""
        try:
            take = self.take
            take.validate()
        except ValueError as exc:
            self._fail(exc)
            return None
        return take

    def _fail(self, exc: BaseException) -> None:
        import html

        self.progress.bar_style = "danger"
        self.status.value = "failed"
        self.error.value = (f'<pre style="color:#b00020;white-space:pre-wrap">{html.escape(type(exc).__name__)}: '
                            f"{html.escape(str(exc))}</pre>")


def _physics(clip: Clip) -> str:
    """`` · physics <score>`` for a clip whose Take has a scene (the physics report's score), else ""."""
    from sorakit.best import score
    from sorakit.report import measure

    if clip.take.scene() is None or clip.frames.shape[0] < 8:
        return ""
    return f" · physics {score(measure(clip)).total:.1f}"


def _shown(message: Any, action: Callable[[], object]) -> Callable[[object], None]:
    """A button callback that runs ``action`` and shows any error in ``message`` (an HTML widget):
    ipywidgets drops what a callback raises, so without this a failed click shows nothing."""

    def on_click(_: object) -> None:
        try:
            action()
        except Exception as exc:
            message.value = (f'<pre style="color:#b00020;white-space:pre-wrap">{html.escape(type(exc).__name__)}: '
                             f"{html.escape(str(exc))}</pre>")

    return on_click


class Gallery(w.VBox):  # type: ignore[misc]
    """Every saved take in a folder: thumbnails with their knobs; view, compare two, reuse in a Studio, delete.

    Args:
        out_dir: the folder a Studio saves into.
        studio: the Studio that "use" copies a Take back into.
    """

    def __init__(self, out_dir: str | Path | None = None, *, studio: Studio | None = None) -> None:
        self.out_dir = Path(out_dir) if out_dir is not None else (studio.out_dir if studio else default_out_dir())
        self.studio = studio
        self.pick = w.Dropdown(description="take")
        self.other = w.Dropdown(description="compare")
        self.view_button = w.Button(description="view", icon="eye")
        self.compare_button = w.Button(description="compare", icon="columns")
        self.use_button = w.Button(description="use in studio", icon="arrow-up")
        self.delete_button = w.Button(description="delete", icon="trash", button_style="danger")
        self.thumbs = w.HBox(layout={"flex_flow": "row wrap"})
        self.viewer = w.HTML("")
        self.message = w.HTML("")
        self.view_button.on_click(_shown(self.message, self.view))
        self.compare_button.on_click(_shown(self.message, self.compare))
        self.use_button.on_click(_shown(self.message, self.use))
        self.delete_button.on_click(_shown(self.message, self.delete))
        super().__init__([self.thumbs, w.HBox([self.pick, self.view_button, self.use_button, self.delete_button]),
                          w.HBox([self.other, self.compare_button]), self.message, self.viewer])
        self.refresh()

    def paths(self) -> list[Path]:
        """Saved clips (mp4 with a sidecar), newest first."""
        if not self.out_dir.is_dir():
            return []
        return sorted((p for p in self.out_dir.glob("*.mp4") if p.with_suffix(".json").is_file()), reverse=True)

    def _takes(self) -> tuple[list[tuple[Path, Take]], int]:
        """The clips whose sidecar holds a readable Take, and how many others were passed over (a
        storyboard's film, a damaged or foreign sidecar)."""
        from sorakit.sidecar import SIDECAR_FORMAT, read
        from sorakit.errors import InvalidInput

        found, other = [], 0
        for p in self.paths():
            try:
                meta = read(p.with_suffix(".json"))
                if meta.get("format") != SIDECAR_FORMAT:
                    raise InvalidInput("not a clip's sidecar")
                found.append((p, Take.from_dict(meta.get("take"))))
            except (InvalidInput, OSError):
                other += 1
        return found, other

    def refresh(self) -> None:
        takes, other = self._takes()
        options = [(p.stem, str(p)) for p, _ in takes]
        self.pick.options, self.other.options = options, options
        tiles = []
        for p, t in takes[:24]:
            scene = t.physics.scene
            scene_name = scene if isinstance(scene, str) or scene is None else scene.name
            caption = (f"<b>{html.escape(p.stem)}</b><br>{html.escape(t.model)} · seed {t.seed} · {t.steps} steps · "
                       f"cfg {t.guidance_scale}<br>{html.escape(str(scene_name))} · physics {t.physics.strength}")
            try:
                thumb = _thumbnail(p)
            except Exception:  # a damaged mp4 still gets its tile, without a picture
                thumb = b""
            tiles.append(w.VBox([w.Image(value=thumb, format="png", layout={"width": "160px"}),
                                 w.HTML(f'<div style="font-size:11px;width:160px">{caption}</div>')]))
        self.thumbs.children = tiles
        skipped = f" ({other} other files passed over: films, damaged or foreign sidecars)" if other else ""
        self.message.value = f"{len(takes)} takes in {html.escape(str(self.out_dir))}{skipped}"

    def view(self) -> None:
        if self.pick.value:
            self.viewer.value = clip_html(load(self.pick.value))

    def compare(self) -> None:
        from sorakit.display import compare_html

        if self.pick.value and self.other.value:
            a, b = load(self.pick.value), load(self.other.value)
            self.viewer.value = compare_html([a, b], [Path(self.pick.value).stem, Path(self.other.value).stem])

    def use(self) -> None:
        if self.pick.value and self.studio is not None:
            self.studio.take = load(self.pick.value).take
            self.message.value = f"copied the Take of {Path(self.pick.value).stem} into the studio"

    def delete(self) -> None:
        if self.pick.value:
            mp4 = Path(self.pick.value)
            mp4.unlink(missing_ok=True)
            mp4.with_suffix(".json").unlink(missing_ok=True)
            self.viewer.value = ""
            self.refresh()


def _thumbnail(mp4: Path) -> bytes:
    import av

    with av.open(str(mp4)) as f:
        frame = next(f.decode(video=0)).to_image()  # type: ignore[no-untyped-call]
    frame.thumbnail((160, 160))
    buf = io.BytesIO()
    frame.save(buf, format="PNG")
    return buf.getvalue()


def sweep(take: Take, *, seeds: list[int] | tuple[int, ...], knob: str, values: list[Any] | tuple[Any, ...],
          on_clip: Callable[[int, int, Clip], None] | None = None, farm: Farm | None = None,
          folder: str | Path | None = None, on_status: Callable[[Status], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> list[list[Clip]]:
    """Renders a grid: one row per seed, one column per value of ``knob``.

    ``knob`` is a Take field (``guidance_scale``, ``steps``) or ``physics.strength``. All Takes are
    validated before the first render. With a ``farm`` (``sorakit.RayFarm(...)``) or a ``folder``,
    each take is saved there as it finishes (``seed-<seed>_<knob>-<value>.mp4``) and a second run
    over the folder renders only what is missing; ``on_clip`` is then called as takes finish, in
    any order, ``on_status`` with the farm's ``Status`` (done, running, failed, ETA), and
    ``should_stop`` polled: when it returns True no more takes start and the running ones end
    unsaved within a step. A take that fails (or is stopped) raises ``TakesFailed`` once the others
    are saved.

    >>> grid = sweep(Take(frames=8, width=96, height=64), seeds=[0, 1], knob="physics.strength", values=[0.0, 0.5])
    >>> [[c.take.physics.strength for c in row] for row in grid]
    [[0.0, 0.5], [0.0, 0.5]]
    """
    from sorakit.generate import generate

    def variant(seed: int, value: Any) -> Take:
        if knob == "physics.strength":
            return take.replace(seed=seed, physics=dataclasses.replace(take.physics, strength=float(value)))
        if knob not in ("guidance_scale", "steps", "fps", "frames"):
            raise InvalidInput(f"knob={knob!r}: a sweep varies guidance_scale, steps, fps, frames or physics.strength")
        return take.replace(seed=seed, **{knob: value})

    takes = [[variant(s, v) for v in values] for s in seeds]
    for row in takes:
        for t in row:
            t.validate()
    if farm is not None or folder is not None:
        return _sweep_on(farm, Path(folder if folder is not None else "sweep"), takes, knob, values, on_clip,
                         on_status, should_stop)
    grid: list[list[Clip]] = []
    for i, row in enumerate(takes):
        grid.append([])
        for j, t in enumerate(row):
            clip = generate(t)
            grid[-1].append(clip)
            if on_clip is not None:
                on_clip(i, j, clip)
    return grid


def _sweep_on(farm: Farm | None, folder: Path, takes: list[list[Take]], knob: str, values: list[Any] | tuple[Any, ...],
              on_clip: Callable[[int, int, Clip], None] | None, on_status: Callable[[Status], None] | None,
              should_stop: Callable[[], bool] | None) -> list[list[Clip]]:
    """The grid rendered on ``farm`` (here when None), each take saved in ``folder`` as it finishes."""
    from sorakit.farm import Done, Job, Local, all_made

    cells = {}
    jobs = []
    for i, row in enumerate(takes):
        for j, t in enumerate(row):
            job = Job(t, folder / f"seed-{t.seed}_{knob}-{values[j]}.mp4")
            cells[job.path] = (i, j)
            jobs.append(job)

    def finished(done: Done) -> None:
        if done.clip is not None and on_clip is not None:
            on_clip(*cells[done.job.path], done.clip)

    results = (farm or Local()).run(jobs, on_done=finished, on_status=on_status, should_stop=should_stop)
    all_made(results, folder)
    grid: list[list[Clip]] = [[] for _ in takes]
    for d in results:
        assert d.clip is not None
        grid[cells[d.job.path][0]].append(d.clip)
    return grid


def sweep_html(grid: list[list[Clip]], *, knob: str, values: list[Any] | tuple[Any, ...],
               max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The grid as a table, seeds down and ``knob`` values across, each take with its physics score (when
    its Take has a scene); the videos loop muted so they play in sync."""
    import html

    cells = max(1, sum(len(r) for r in grid))
    head = "".join(f"<th>{html.escape(knob)} = {html.escape(str(v))}</th>" for v in values)
    rows = []
    for row in grid:
        tds = "".join(
            "<td>" + clip_html(c, max_bytes=max_bytes // cells).replace("<video controls",
                                                                      "<video controls autoplay muted loop")
            + f"<div>{html.escape(_physics(c).removeprefix(' · '))}</div></td>"
            for c in row)
        rows.append(f"<tr><th>seed {row[0].take.seed}</th>{tds}</tr>")
    return f'<table class="sorakit-sweep"><tr><th></th>{head}</tr>{"".join(rows)}</table>'


class SweepGrid(w.VBox):  # type: ignore[misc]
    """A sweep (seed × one knob) as a grid in sync, each cell with a "keep" button that saves that clip.

    With a ``farm`` (``sorakit.RayFarm(...)``) the takes render there, each saved in ``out_dir``/sweep
    as it finishes; the panel shows the farm's status (done, running, failed, ETA) and a Cancel
    button that starts no more takes and ends the running ones within a step. A take that fails
    shows its error in the panel; the takes that were made stay saved for the next run.
    """

    def __init__(self, take: Take, *, seeds: list[int] | tuple[int, ...], knob: str,
                 values: list[Any] | tuple[Any, ...], out_dir: str | Path | None = None,
                 farm: Farm | None = None) -> None:
        from sorakit.errors import TakesFailed

        self.out_dir = Path(out_dir) if out_dir is not None else default_out_dir()
        self.kept: list[Path] = []
        self.progress = w.IntProgress(min=0, max=len(seeds) * len(values))
        self.message = w.HTML("")
        self.status = w.HTML("")
        self.cancel = w.Button(description="Cancel", button_style="warning", layout={"display": "" if farm else "none"})
        self.cancelled = False
        self.cancel.on_click(lambda _: setattr(self, "cancelled", True))
        super().__init__([w.HBox([self.progress, self.cancel]), self.status, self.message])
        self.grid: list[list[Clip]] = []
        with _ui_events() as poll:

            def on_clip(i: int, j: int, clip: Clip) -> None:
                self.progress.value += 1
                poll(8)

            def on_status(status: Status) -> None:
                self.status.value = html.escape(str(status))
                poll(8)

            def stop() -> bool:
                poll(8)
                return self.cancelled

            try:  # without a farm: here, nothing saved (no folder), as before
                self.grid = sweep(take, seeds=seeds, knob=knob, values=values, on_clip=on_clip, farm=farm,
                                  folder=None if farm is None else self.out_dir / "sweep", on_status=on_status,
                                  should_stop=stop)
            except TakesFailed as exc:  # the error in the panel; what was made is saved for the next run
                self.message.value = f'<span style="color:#b00">{html.escape(str(exc))}</span>'
                self.cancel.disabled = True
                return
        self.cancel.disabled = True
        self.table = w.HTML(sweep_html(self.grid, knob=knob, values=values))
        buttons = []
        for i, row in enumerate(self.grid):
            for j, clip in enumerate(row):
                b = w.Button(description=f"keep seed {clip.take.seed}, {knob}={values[j]}",
                             layout={"width": "auto"})
                b.on_click(_shown(self.message, functools.partial(self.keep, clip)))
                buttons.append(b)
        self.children = (self.table, w.HBox(buttons, layout={"flex_flow": "row wrap"}), self.message)

    def keep(self, clip: Clip) -> Path:
        path = clip.save(self.out_dir / clip_name(clip))
        self.kept.append(path)
        self.message.value = f"kept {path.name}"
        return path
