"""The console's data layer: plain Python over the store (no Textual), unit-tested on SQLite and PostgreSQL."""
