"""The secrets scan skips copies of the project's training data (documented numbers by design) and
still finds a number in a log beside them."""
import importlib.util
import tempfile
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("scan_secrets", PROJECT_ROOT / "scripts" / "scan_secrets.py")
scan_secrets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scan_secrets)

CARD = "6222021000000000124"


@pytest.fixture
def tmp_path():
    """Outside pytest's folder (var/pytest), which make test scans after the run: these files hold
    the card in full on purpose."""
    with tempfile.TemporaryDirectory(prefix="scan-secrets-test-") as folder:
        yield Path(folder)


def test_a_copy_of_the_project_is_not_read_but_a_log_beside_it_is(tmp_path):
    copy = tmp_path / "test_labelling0" / "project"
    (copy / "data" / "nlu").mkdir(parents=True)
    (copy / "domain.yml").write_text("version: '3.1'\n")
    (copy / "data" / "nlu" / "change.yml").write_text(f"      - 新卡号是{CARD}\n")
    (tmp_path / "assistant" / "logs").mkdir(parents=True)
    (tmp_path / "assistant" / "logs" / "rasa.log").write_text(f"user said {CARD}\n")

    found = scan_secrets.scan([tmp_path], {CARD: "test card"})

    assert len(found) == 1 and "rasa.log" in found[0] and CARD not in found[0]


def test_data_without_a_domain_beside_it_is_read(tmp_path):
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "data" / "nlu" / "x.yml").write_text(CARD)
    assert len(scan_secrets.scan([tmp_path], {CARD: "test card"})) == 1
