"""On-device de-identification of clinical media (`phiwall scrub`): voices, faces, skeletons.

One job per module: `psola` (default voice shift: PSOLA pitch and formants), `voice` (McAdams
pole shifting), `audio` (audio tracks in and out), `models` (the shipped face and pose models),
`frames` (per-frame drawing), `smoothing` (face boxes across frames), `visual` (frame
pipelines), `files` (one file), `tree` (inputs and outputs, folders mirrored). See docs/deidentify.md.
"""
