"""A real browser (headless Chromium) on the served app: ask, read the answer, click a citation, and no injected script runs."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_server import prepare, running_app

CHROMIUM = Path("/usr/bin/chromium")
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]

if not CHROMIUM.exists():
    print(f"skipping the browser tests: {CHROMIUM} is missing (apt-get install chromium)")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")

EVIL_TITLE = "<script>window.__xss=1</script>蓝鲸安全测试通知"
EVIL_SENTENCE = '测试科协于2024年1月2日召开了蓝鲸会议，会议由李四光主持<img src=x onerror="window.__xss=2">![x](http://127.0.0.2/evil.png)。'
EVIL_NOTICE = f"""{EVIL_TITLE}

来源: 测试科协 发布于: 2024-01-02

{EVIL_SENTENCE}

会议要求，各单位认真做好<script>window.__xss=3</script>蓝鲸安全测试工作，<img src="http://127.0.0.2/pixel.gif">不得遗漏。
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory, seed_settings, pipeline):
    """app.py over the seeds plus a notice full of markup that must never run."""
    base = tmp_path_factory.mktemp("browser")
    corpus, index = prepare(base, SEEDS, seed_settings.index_dir, extra={"999_markup_test.txt": EVIL_NOTICE})
    with running_app(corpus, index, base / "server.log") as url:
        yield {"url": url, "index": index}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, served):
    """A fresh page on the app that records every request and dialog."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.requests, page.dialogs = [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(served["url"])
    page.wait_for_selector("#rag-question textarea", timeout=60_000)
    yield page
    context.close()


def ask(page, question: str) -> None:
    replies = page.locator("#rag-chat .rag-reply").count()
    page.fill("#rag-question textarea", question)
    page.click("#rag-ask")
    page.wait_for_function(f"document.querySelectorAll('#rag-chat .rag-reply').length > {replies}", timeout=60_000)


def last_reply(page):
    return page.locator("#rag-chat .rag-reply").last


def test_a_question_shows_the_answer_and_a_clicked_citation_opens_the_highlighted_sentence(page, artifacts):
    ask(page, "宁夏科协党组扩大会议由谁主持？")
    reply = last_reply(page)
    assert reply.locator(".rag-short strong").inner_text() == "陈红缨"
    assert "陈红缨主持会议" in reply.locator(".rag-quote").first.inner_text()
    assert reply.locator(".rag-quote a.rag-cite").first.inner_text() == "[1]"
    page.screenshot(path=str(artifacts / "chat_answer.png"))

    reply.locator("summary").click()  # 来源 / Sources
    source = reply.locator(".rag-source").first
    assert "002_0676de67ad7a5ad1.txt · ¶" in source.inner_text()
    assert "陈红缨" in source.locator("mark").inner_text()
    page.screenshot(path=str(artifacts / "chat_sources.png"))

    assert page.locator("#rag-viewer mark").count() == 0
    reply.locator(".rag-quote a.rag-cite").first.click()
    viewer_mark = page.locator("#rag-viewer .rag-current mark")
    viewer_mark.wait_for(timeout=30_000)
    assert "自治区科协党组书记、主席陈红缨主持会议" in viewer_mark.inner_text()
    assert page.locator("#rag-viewer .rag-doc-title").inner_text() == "自治区科协召开党组扩大会议传达学习党的二十大精神"
    assert page.locator("#rag-viewer .rag-current .rag-pnum").inner_text().startswith("¶")
    page.screenshot(path=str(artifacts / "chat_viewer.png"))


def test_a_follow_up_question_is_read_with_the_earlier_ones(page, artifacts):
    ask(page, "宁夏科协党组扩大会议是哪天召开的？")
    assert last_reply(page).locator(".rag-short strong").inner_text() == "10月25日"
    assert last_reply(page).locator(".rag-read-as").count() == 0  # a question that stands alone is not rewritten
    ask(page, "由谁主持？")  # alone it finds another meeting's chair; after the first question, Ningxia's
    assert last_reply(page).locator(".rag-short strong").inner_text() == "陈红缨"
    ask(page, "她是什么职务？")  # the person is only in the previous answer
    reply = last_reply(page)
    assert reply.locator(".rag-read-as").inner_text() == "理解为 / Read as: 陈红缨是什么职务？"
    assert reply.locator(".rag-short strong").inner_text() == "自治区科协党组书记、主席"
    page.screenshot(path=str(artifacts / "chat_follow_up.png"))


def test_a_thumbs_down_with_a_correction_reaches_the_feedback_export(page, served, artifacts, tmp_path):
    import json
    import subprocess
    import sys

    ask(page, "科技部党组会议由谁主持？")
    assert last_reply(page).locator(".rag-short strong").inner_text() == "王志刚"
    page.locator("#rag-chat button[aria-label='踩'], #rag-chat button[aria-label='Dislike']").last.click()  # zh-CN: 踩
    page.locator("#rag-right-answer textarea").wait_for(state="visible", timeout=30_000)
    page.fill("#rag-right-answer textarea", "科技部党组书记、部长王志刚")
    page.click("#rag-send-correction")
    page.wait_for_function("document.querySelector('#rag-feedback-message')?.innerText.includes('更正已记录')", timeout=30_000)
    page.screenshot(path=str(artifacts / "chat_feedback.png"))
    target = tmp_path / "feedback.jsonl"
    done = subprocess.run([sys.executable, "-m", "rag", "feedback", "export", str(target), "--index", str(served["index"])],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    items = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert {"question": "科技部党组会议由谁主持？", "answers": ["科技部党组书记、部长王志刚"], "feedback": "down"}.items() <= items[-1].items()


def test_the_chat_downloads_as_markdown_with_every_citation(page, artifacts):
    ask(page, "宁夏科协党组扩大会议由谁主持？")
    ask(page, "该会议是哪天召开的？")
    with page.expect_download(timeout=30_000) as waiting:
        page.click("#rag-download")
    text = Path(waiting.value.path()).read_text(encoding="utf-8")
    (artifacts / "chat.md").write_text(text, encoding="utf-8")
    assert "## 1. 宁夏科协党组扩大会议由谁主持？" in text and "**陈红缨**" in text
    assert "## 2. 该会议是哪天召开的？" in text and "*理解为 / Read as: 宁夏科协党组扩大会议是哪天召开的？*" in text
    assert "自治区科协召开党组扩大会议传达学习党的二十大精神 · 2022-10-27 · 002_0676de67ad7a5ad1.txt · ¶2" in text
    assert "> 自治区科协党组书记、主席陈红缨主持会议" in text


def test_unanswerable_questions_say_so_in_the_language_asked(page, artifacts):
    ask(page, "What is the capital of France?")
    reply = last_reply(page)
    assert "The documents do not answer this." in reply.inner_text()
    assert "可能相关 / Possibly related" in reply.inner_text()
    ask(page, "火星上有几个足球场？")
    assert "文档中没有找到答案" in last_reply(page).inner_text()
    page.screenshot(path=str(artifacts / "chat_not_found.png"))


def test_markup_in_documents_and_questions_never_runs_or_loads(page, artifacts):
    ask(page, '<img src=x onerror="window.__xss=4">蓝鲸会议由谁主持？<script>window.__xss=5</script>')
    reply = last_reply(page)
    assert "李四光" in reply.inner_text()
    question_bubble = page.locator("#rag-chat").get_by_text("蓝鲸会议由谁主持？", exact=False).first
    assert '<img src=x onerror="window.__xss=4">' in question_bubble.inner_text()  # shown as text
    reply.locator("summary").click()
    assert EVIL_TITLE in reply.inner_text()
    assert "![x](http://127.0.0.2/evil.png)" in reply.inner_text()
    reply.locator(".rag-quote a.rag-cite").first.click()
    page.locator("#rag-viewer .rag-current mark").wait_for(timeout=30_000)
    assert page.locator("#rag-viewer .rag-doc-title").inner_text() == EVIL_TITLE
    page.screenshot(path=str(artifacts / "markup_chat.png"))

    page.get_by_role("tab", name="文档 / Documents").click()
    cell = page.locator("#rag-documents").get_by_text("999_markup_test.txt").first
    cell.wait_for(timeout=30_000)
    cell.click()
    page.locator("#rag-document-viewer .rag-doc-title").wait_for(timeout=30_000)
    assert "各单位认真做好<script>window.__xss=3</script>蓝鲸安全测试工作" in page.locator("#rag-document-viewer").inner_text()
    page.screenshot(path=str(artifacts / "markup_documents.png"))

    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#rag-chat img, #rag-viewer img, #rag-document-viewer img, #rag-documents img").count() == 0
    assert page.dialogs == []
    assert [url for url in page.requests if "127.0.0.2" in url or url.rstrip("/").endswith("/x")] == []


def test_documents_and_settings_tabs_show_the_index(page, artifacts):
    page.get_by_role("tab", name="文档 / Documents").click()
    page.locator("#rag-documents").get_by_text("002_0676de67ad7a5ad1.txt").first.wait_for(timeout=30_000)
    page.locator("#rag-documents").get_by_text("002_0676de67ad7a5ad1.txt").first.click()
    viewer = page.locator("#rag-document-viewer")
    viewer.locator(".rag-doc-title").wait_for(timeout=30_000)
    assert viewer.locator(".rag-pnum").first.inner_text() == "¶1"
    assert "陈红缨主持会议" in viewer.inner_text()
    page.screenshot(path=str(artifacts / "documents_tab.png"))

    page.get_by_role("tab", name="设置 / Settings").click()
    status = page.locator("#rag-status")
    status.wait_for(timeout=30_000)
    assert "e5-small" in status.inner_text() and "文档 / Documents" in status.inner_text()
    page.screenshot(path=str(artifacts / "settings_tab.png"))
