"""Issue 13's trainer loop in a real browser (Debian's Chromium driven by Playwright) against the
real assistant (`bot serve`: Rasa, the action server and the agent console):

merchants talk to the bot over REST: one message falls back (nlu_fallback), one FAQ question is
answered with low confidence and holds a phone number; a trainer signs in and lands on the inbox,
sees both, the number masked; labels the one that fell back, which appends it to data/nlu/ of a
temporary copy of the project (TRAINER_PROJECT_DIR, passed by `bot serve` to the console); the
page shows the diff, the message leaves the inbox and the page says the model is now older than
the data; 导出测试故事 beside the diff downloads that conversation as a redacted test story (the
console runs `bot trainer story --key` as a child process). The project's own data/ is never
touched. Screenshot: var/reports/trainer_inbox.png."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Iterator

import pytest

from bot.settings import PROJECT_ROOT
from training.project_copy import copy_project
from e2e.conftest import _free_port, start_assistant, stop_assistant
from e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, TURN_TIMEOUT_MS

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402 - test_browser checked Chromium

pytestmark = pytest.mark.servers

REPORTS = PROJECT_ROOT / "var" / "reports"
# What the model makes of these is checked first (/model/parse), so a retrained model that reads
# them otherwise fails with a clear message rather than an empty inbox.
FALLS_BACK = "进账户头挪个窝"  # "move where my takings go": change_account, in words the data lacks
PHONE = "13800000001"
UNSURE = f"{PHONE}这个号码还能用吗"  # a FAQ question the response selector is not sure of
UNSURE_SHOWN = "****0001这个号码还能用吗"
# Below this a message counts as low confidence: high, so the test does not hang on how unsure
# this model happens to be of UNSURE (any confidence under it will do).
THRESHOLD = 0.95


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.yml")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's data, domain and model inputs, its model marked as trained from exactly them."""
    root = tmp_path_factory.mktemp("trainer-project")
    return copy_project(root)


@pytest.fixture(scope="module")
def trainers_assistant(tmp_path_factory: pytest.TempPathFactory, project_copy: Path):
    running = start_assistant(
        tmp_path_factory.mktemp("var-trainer-browser"), rasa_port=_free_port(), action_port=_free_port(),
        env={"TRAINER_PROJECT_DIR": str(project_copy), "TRAINER_LOW_CONFIDENCE": str(THRESHOLD)},
    )
    yield running
    stop_assistant(running)


@pytest.fixture
def trainer_page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        context.set_default_timeout(TURN_TIMEOUT_MS)
        yield context.new_page()
        context.close()
        browser.close()


def _confidence(parse: dict) -> float:
    """The confidence the inbox reads: for a FAQ question, the lower of the intent's and the
    response selector's."""
    confidence = parse["intent"]["confidence"]
    selected = (parse.get("response_selector") or {}).get("faq", {}).get("response", {})
    if parse["intent"]["name"] == "faq" and selected.get("confidence") is not None:
        confidence = min(confidence, selected["confidence"])
    return confidence


def test_a_trainer_labels_a_real_message_into_a_copy_of_the_project_and_sees_the_diff(
        trainers_assistant, project_copy: Path, trainer_page: Page) -> None:
    assistant, page = trainers_assistant, trainer_page
    real_data = _digest(PROJECT_ROOT / "data")
    _, falls_back = assistant.post("/model/parse", {"text": FALLS_BACK})
    _, unsure = assistant.post("/model/parse", {"text": UNSURE})
    assert falls_back["intent"]["name"] == "nlu_fallback", falls_back["intent"]
    assert unsure["intent"]["name"] != "nlu_fallback" and _confidence(unsure) < THRESHOLD, unsure["intent"]

    # Two merchants, each a message the bot did not get (both answered: neither is left silent).
    assistant.say("rest-trainer-fallback", FALLS_BACK)
    assistant.say("rest-trainer-unsure", UNSURE)

    # The trainer signs in and starts on the inbox.
    password = json.loads((assistant.var_dir / "demo_accounts.json").read_text(encoding="utf-8"))["trainer"]
    page.goto(assistant.console_url + "/login")
    page.fill("input[name=username]", "trainer")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/trainer")
    fell_back = page.locator(".inbox-entry", has=page.locator(".entry-text", has_text=FALLS_BACK))
    low = page.locator(".inbox-entry", has=page.locator(".entry-text", has_text=UNSURE_SHOWN))
    expect(fell_back).to_contain_text("未识别（兜底）")
    expect(low).to_contain_text("置信度低")
    expect(low.locator("textarea[name=text]")).to_have_value(UNSURE_SHOWN)
    assert PHONE not in page.content()
    expect(page.locator("#model-state")).to_contain_text("模型与当前训练数据一致")
    # The page's script: words selected in the sentence become an entity row's value.
    low.locator("textarea[name=text]").evaluate("(text) => text.setSelectionRange(0, 8)")
    low.locator(".entity-row").first.get_by_role("button", name="用选中的文字").click()
    expect(low.locator("input[name=entity_value_0]")).to_have_value("****0001")

    # Labelled: the intent chosen, saved.
    fell_back.locator("select[name=intent]").select_option("change_account")
    fell_back.get_by_role("button", name="保存为训练样本").click()
    page.wait_for_url("**/trainer?added=*")

    line = f"      - {FALLS_BACK}"
    diff = page.locator("#added pre.diff")
    expect(diff.locator(".add")).to_have_text(f"+{line}")
    expect(diff.locator(".file").first).to_have_text("--- a/data/nlu/change.yml")
    expect(page.locator(".flash")).to_contain_text("已保存为训练样本：写入 data/nlu/change.yml")
    expect(page.locator(".inbox-entry", has=page.locator(".entry-text", has_text=FALLS_BACK))).to_have_count(0)
    expect(low).to_have_count(1)
    expect(page.locator("#model-state")).to_contain_text("make model")
    REPORTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(REPORTS / "trainer_inbox.png"), full_page=True)

    # The regression test: the labelled group's conversation as a test story, downloaded.
    with page.expect_download(timeout=130_000) as started:  # the console waits up to 120 s for it
        page.locator("#added").get_by_role("link", name="导出测试故事").click()
    download = started.value
    assert re.fullmatch(r"test_change_account_[0-9a-f]{16}\.yml", download.suggested_filename)
    story = Path(download.path()).read_text(encoding="utf-8")
    assert "stories:" in story and f"- user: |-\n      {FALLS_BACK}\n    intent: nlu_fallback" in story
    assert "rest-trainer-fallback" not in story  # named by a digest

    written = (project_copy / "data/nlu/change.yml").read_text(encoding="utf-8")
    assert written.count(line + "\n") == 1
    block = written.split("  - intent: change_account\n", 1)[1].split("\n\n", 1)[0]
    assert block.splitlines()[-1] == line  # at the end of change_account's examples
    assert _digest(PROJECT_ROOT / "data") == real_data  # the project's own data untouched
