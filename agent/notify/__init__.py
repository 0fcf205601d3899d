"""Tell the clinician: a desktop notification, in their own session, when an upload is blocked.

The agent service (`NotifyHub`, a `phiwall run` component) follows block events in the store
and pushes a PHI-free notice to the per-user helper (`phiwall notify`) of the user whose
upload was stopped, over a local Unix socket; the helper shows it through the desktop's
notification service (`desktop-notifier`: freedesktop D-Bus on Linux, and the Windows and
macOS back ends), at most once per upload burst.
"""
