"""2D rigid-body scenes (pymunk), simulated into trajectories and collision events."""

from sorakit.physics.presets import PRESETS, preset
from sorakit.physics.scene import MATERIALS, Ball, Box, Change, Material, Scene, Segment, SoundProfile
from sorakit.physics.simulate import Event, Simulation, simulate

__all__ = ["Scene", "Ball", "Box", "Segment", "Change", "Material", "SoundProfile", "MATERIALS",
           "preset", "PRESETS", "simulate", "Simulation", "Event"]
