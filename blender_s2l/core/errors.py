"""The project's exceptions: each carries one clear sentence meant for a person, not a traceback."""


class S2LError(Exception):
    """Base of every error the UI, CLI and batch report as a one-line message."""


class AudioError(S2LError):
    """The sound cannot be read or is unusable (missing, corrupt, empty, too long)."""


class MeshError(S2LError):
    """The mesh cannot be animated (no vertices, too few, bad faces, not a head)."""


class LandmarkError(S2LError):
    """Landmarks are missing, out of range, mirrored or degenerate."""


class WeightsError(S2LError):
    """A weights file is missing, truncated, tampered with or of the wrong kind/version."""


class DeviceError(S2LError):
    """A compute device was asked for that this machine does not have."""


class BakeError(S2LError):
    """The scene cannot take a bake (wrong object, strip, mode, linked data...)."""


class Cancelled(S2LError):
    """The user cancelled a running bake; nothing was changed."""


class ExportError(S2LError):
    """A take's weights cannot be exported (bad path, unwritable, unusable values)."""
