"""What a scrub does to voices, faces and people, and the summary of what it did to one file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

VoiceMode = Literal["anonymise", "mute", "keep"]
FaceMode = Literal["blur", "mask", "keep"]
PeopleMode = Literal["keep", "skeleton"]
VoiceMethod = Literal["psola", "mcadams", "target"]

VOICE_MODES: tuple[VoiceMode, ...] = ("anonymise", "mute", "keep")
FACE_MODES: tuple[FaceMode, ...] = ("blur", "mask", "keep")
PEOPLE_MODES: tuple[PeopleMode, ...] = ("keep", "skeleton")
VOICE_METHODS: tuple[VoiceMethod, ...] = ("target", "mcadams", "psola")


@dataclass(frozen=True)
class ScrubOptions:
    voice: VoiceMode = "anonymise"
    faces: FaceMode = "blur"
    people: PeopleMode = "keep"
    voice_method: VoiceMethod = "target"
    """How `anonymise` shifts the voice: McAdams LPC poles, PSOLA pitch + formants, or onto one common target voice."""
    alpha: float | None = None
    """McAdams coefficient; None draws one per file (never printed: it would help undo the shift)."""

    @property
    def needs_models(self) -> bool:
        return self.people == "skeleton" or self.faces != "keep"


@dataclass
class ScrubResult:
    """What was done to one file, for the one-line report (no content, no PHI)."""

    kind: str
    actions: list[str] = field(default_factory=list)
    seconds: float | None = None
    """Duration of the output (audio and video), for its lineage record."""

    def describe(self) -> str:
        done = ", ".join(self.actions) if self.actions else "re-encoded"
        return f"{self.kind}: {done}, metadata stripped"
