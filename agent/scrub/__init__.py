"""On-device de-identification of clinical media (`phiwall scrub`): voices, faces, skeletons.

One job per module: `target` (default voice change: onto one common target voice), `psola`
(random PSOLA pitch and formant shift), `voice` (McAdams pole shifting), `audio` (audio tracks
in and out), `models` (the shipped face and pose models), `frames` (per-frame drawing),
`smoothing` (face boxes across frames), `visual` (frame pipelines), `files` (one file), `tree`
(inputs and outputs, folders mirrored). See docs/deidentify.md.
"""
