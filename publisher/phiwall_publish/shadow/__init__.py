"""Training data and trainer for the shadow-AI request-shape classifier (IT side, not the agent)."""
