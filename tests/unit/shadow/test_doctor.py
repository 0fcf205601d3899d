"""The shadow doctor check against the shipped signatures and this machine's process table."""

from __future__ import annotations

from pathlib import Path

from agent.checkup import DoctorContext, load_checks
from agent.config import AgentSection, Config
from agent.shadow.doctor import check_shadow


def test_reports_the_classifier_and_visibility(tmp_path: Path) -> None:
    config = Config(agent=AgentSection(data_dir=tmp_path / "data"))
    finding = check_shadow(DoctorContext(config=config, store_url=f"sqlite:///{tmp_path / 's.db'}"))
    assert finding.name == "shadow"
    assert finding.level in ("ok", "warn")
    assert "classifier 20" in finding.detail
    assert "features" in finding.detail
    assert check_shadow in load_checks()
