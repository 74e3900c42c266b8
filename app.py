"""The chat page: layout and event wiring only; every decision lives in rag/.

python app.py serves on 127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT change it;
RAG_AUTH_USER and RAG_AUTH_PASSWORD, both set, ask for a login). The embedder and the
index load once, at start-up; the index is built first when it is missing or stale.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import gradio as gr

from rag.conversation import Turn
from rag.corpus import MAX_UPLOAD_BYTES, RejectedUpload, add_upload, delete_source, names_elsewhere
from rag.documents import SUPPORTED_SUFFIXES
from rag.feedback import FeedbackProblem, FeedbackStore, answer_record, feedback_path
from rag.render import (
    DOCUMENT_HEADERS,
    conversation_markdown,
    document_rows,
    parse_citation_key,
    progress_text,
    render_document,
    render_message,
    render_question,
    render_reply,
    render_status,
    viewer_placeholder,
)
from rag.schema import response_to_json

EXAMPLES = [
    "宁夏科协党组扩大会议由谁主持？",
    "Who chaired the Party group meeting of the Ministry of Science and Technology on October 24?",
    "寧夏科協黨組擴大會議由誰主持？",
    "科技部党组会议是哪天召开的？",
]

CJK_FONTS = [
    "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei",
    "WenQuanYi Micro Hei", "system-ui", "sans-serif",
]

CSS = """
.gradio-container, .gradio-container .prose, .rag-reply, .rag-doc, .rag-status {
  font-family: "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei",
               "WenQuanYi Micro Hei", system-ui, -apple-system, "Segoe UI", sans-serif;
}
.rag-reply, .rag-doc { line-height: 1.7; font-size: 15px; letter-spacing: .01em; }
.rag-reply p { margin: .2em 0 .5em; }
.rag-short { font-size: 1.3em; margin: 0 0 .35em !important; }
.rag-short strong { font-weight: 700; }
.rag-quote { margin: .35em 0 .6em !important; padding: .35em .9em !important; border-left: 3px solid var(--color-accent, #f97316) !important;
             background: var(--background-fill-secondary, rgba(127,127,127,.06)); border-radius: 0 6px 6px 0; font-style: normal !important; }
.rag-quote-text strong { font-weight: 700; }
a.rag-cite { display: inline-block; margin-left: .2em; padding: 0 .3em; border-radius: 4px; font-size: .8em; line-height: 1.5;
             vertical-align: .35em; text-decoration: none !important; cursor: pointer; font-weight: 600;
             color: var(--link-text-color, #2563eb) !important; background: rgba(37, 99, 235, .09); }
a.rag-cite:hover, a.rag-cite:focus { background: rgba(37, 99, 235, .2); outline: none; }
.rag-sources { margin-top: .4em; }
.rag-sources > summary { cursor: pointer; font-weight: 600; font-size: .92em; color: var(--body-text-color-subdued, #555); }
.rag-source-list { list-style: none; padding-left: 0 !important; margin: .4em 0 0 !important; }
.rag-source { margin: 0 0 .7em; padding-top: .4em; border-top: 1px solid var(--border-color-primary, #e5e7eb); }
.rag-source > a.rag-cite { vertical-align: baseline; margin: 0 .4em 0 0; }
.rag-source-head { font-size: .85em; color: var(--body-text-color-subdued, #555); }
.rag-title { font-weight: 600; color: var(--body-text-color, #222); }
.rag-file { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .92em; }
.rag-passage { margin: .25em 0 0 !important; font-size: .92em; color: var(--body-text-color, #333); }
.rag-reply mark, .rag-doc mark { background: #fde68a; color: #1f2937; padding: .05em .15em; border-radius: 3px; }
.rag-none { font-weight: 600; }
.rag-related-head { font-size: .92em; font-weight: 600; color: var(--body-text-color-subdued, #555); margin-top: .6em !important; }
.rag-notice { font-size: .9em; color: #b45309; }
.rag-read-as { font-size: .85em; color: var(--body-text-color-subdued, #666); margin: 0 0 .3em !important; }
#rag-viewer, #rag-document-viewer { padding: .2em .6em; }
.rag-doc-title { font-size: 1.15em; font-weight: 700; margin: .2em 0 .2em; line-height: 1.5; }
.rag-doc-changed { border-left: 3px solid #c60; padding: .3em .6em; background: rgba(204, 102, 0, .08); }
.rag-doc-meta { font-size: .85em; color: var(--body-text-color-subdued, #555); margin: 0 0 .8em; }
.rag-para { display: flex; gap: .7em; padding: .25em .4em; border-radius: 6px; scroll-margin: 4em; }
.rag-para p { margin: 0 0 .35em; }
.rag-pnum { flex: 0 0 2.6em; text-align: right; font-size: .78em; padding-top: .3em; color: var(--body-text-color-subdued, #888);
            font-variant-numeric: tabular-nums; }
.rag-para.rag-current { background: rgba(253, 230, 138, .28); box-shadow: inset 3px 0 0 #f59e0b; }
.rag-page { margin-left: .5em; font-size: .75em; color: var(--body-text-color-subdued, #888); }
.rag-doc-empty { color: var(--body-text-color-subdued, #666); }
.rag-msg.rag-ok { color: #15803d; } .rag-msg.rag-error { color: #b91c1c; font-weight: 600; }
.rag-status table, .rag-status tbody, .rag-status tr { border-collapse: collapse; border: none !important; background: none !important; }
.rag-status th, .rag-status td { border: none !important; border-bottom: 1px solid var(--border-color-primary, #e5e7eb) !important;
                                 padding: .35em 1.4em .35em 0 !important; text-align: left; background: none !important; }
.rag-status th { font-weight: 600; color: var(--body-text-color-subdued, #555); }
.rag-skipped-head { font-weight: 600; margin-top: .8em; }
#rag-documents table { font-family: inherit; }
#rag-header h1 { margin-bottom: .1em; }
"""

# Citation links carry their target in the href (`#cite=…`); the sanitizer keeps href but drops
# event attributes, so one delegated listener sends the key to a hidden textbox.
HEAD = """
<script>
(() => {
  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('a.rag-cite') : null;
    if (!link) return;
    const href = link.getAttribute('href') || '';
    const at = href.indexOf('#cite=');
    if (at < 0) return;
    event.preventDefault();
    event.stopPropagation();
    const box = document.querySelector('#rag-cite-target textarea, #rag-cite-target input');
    if (!box) return;
    box.value = href.slice(at + 6) + '|' + Date.now();
    box.dispatchEvent(new Event('input', { bubbles: true }));
  }, true);
})();
</script>
"""

SCROLL_TO_CITATION = """
() => {
  setTimeout(() => {
    const current = document.querySelector('#rag-viewer .rag-current');
    if (current) current.scrollIntoView({ block: 'center', behavior: 'smooth' });
  }, 50);
}
"""


READER_LOADING = "正在加载答案模型，几秒后回答…… / Loading the answer model: the answer follows in a few seconds…"
WAITING = "等待正在进行的索引完成（提问不受影响）/ Waiting for the indexing in progress (questions are still answered)"


def embedding_progress(progress):
    """A callback for the index build that moves the bar with passages embedded and the time left."""
    started = time.monotonic()

    def report(done: int, total: int) -> None:
        if total:
            progress(0.1 + 0.85 * done / total, desc=progress_text(done, total, time.monotonic() - started))

    return report


def build_app(pipeline) -> gr.Blocks:
    """The Blocks of the chat, documents and settings tabs, wired to one Pipeline."""
    settings = pipeline.settings
    upload_folder = Path(settings.corpus[0])

    feedback = FeedbackStore(feedback_path(settings.index_dir))
    exports = Path(tempfile.mkdtemp(prefix="rag-chat-"))

    def respond(message, history, turns, top_k, max_answers, show_scores):
        history, turns = list(history or []), list(turns or [])
        if not isinstance(message, str) or not message.strip():
            yield gr.update(), history, turns, gr.update()
            return
        asked = {"role": "user", "content": render_question(message)}
        if not pipeline.reader_ready():  # the first seconds after start: the question waits for the answer model, and says so
            yield gr.update(), history + [asked, {"role": "assistant", "content": render_message(READER_LOADING)}], turns, gr.update()
        earlier = [Turn(t["question"], t["short"] or t["answer"], t["answer"], t["read_as"]) for t in turns]
        response = pipeline.ask(message, history=earlier, top_k=int(top_k), max_answers=int(max_answers))
        reply = render_reply(response, pipeline.index.store.documents, bool(show_scores))
        history += [asked, {"role": "assistant", "content": reply}]
        turns.append(answer_record(response, pipeline.index.manifest.get("built_at")))
        yield "", history, turns, gr.update(value=write_markdown(turns), interactive=True)

    def write_markdown(turns) -> str:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        path = exports / f"chat-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{len(turns)}.md"
        path.write_text(conversation_markdown(turns, when), encoding="utf-8")
        return str(path)

    def on_like(turns, data: gr.LikeData, request: gr.Request):
        """👍 / 👎 on an answer: stored beside the index; a 👎 opens the box for a correction."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turns = list(turns or [])
        number = int(index) // 2 if isinstance(index, int) else -1
        if data.liked not in (True, False) or not 0 <= number < len(turns):  # an un-like: nothing to store
            return None, gr.update(visible=False), ""
        try:
            row = feedback.record(turns[number], bool(data.liked), getattr(request, "username", None))
        except FeedbackProblem as problem:
            return None, gr.update(visible=False), render_message(str(problem), ok=False)
        if data.liked:
            return None, gr.update(visible=False), render_message("谢谢！已记录。/ Thank you: noted.")
        return row, gr.update(visible=True), ""

    def send_correction(row, right_answer, documents_dont_say):
        if row is None:
            return row, gr.update(), render_message("请先点 👎。/ Press 👎 on an answer first.", ok=False), "", False
        try:
            feedback.correct(row, right_answer, bool(documents_dont_say))
        except FeedbackProblem as problem:
            return row, gr.update(visible=True), render_message(str(problem), ok=False), right_answer, documents_dont_say
        return None, gr.update(visible=False), render_message("谢谢！更正已记录。/ Thank you: the correction is noted."), "", False

    def current_status():
        status = dict(pipeline.status())
        try:
            counts = feedback.counts()
            status["feedback"] = (counts.up, counts.down, counts.corrected)
        except FeedbackProblem:
            pass
        return render_status(status)

    def open_citation(raw):
        target = parse_citation_key(raw)
        if target is None:
            return gr.update()
        document = pipeline.index.store.documents.get(target.doc_id)
        return render_document(document, target.paragraph, target.start, target.end, target.digest)

    def ask(question: str, history: list | None = None) -> dict:
        """Answer a question by quoting the documents: the object of `python -m rag ask --json`. history: the earlier
        turns, [{"question": …, "answer": …}, …], from which a follow-up is read (the reply's read_as says how)."""
        return response_to_json(pipeline.ask(question if isinstance(question, str) else "",
                                             history=history if isinstance(history, list) else None))

    def library():
        index = pipeline.index
        documents = index.store.documents
        counts = {doc_id: len(index.store.passages_of(doc_id)) for doc_id in documents}
        titles: dict[str, str] = {}
        for d in sorted(documents.values(), key=lambda d: d.doc_id):
            titles.setdefault(d.source, d.title)
        choices = [(f"{source} — {title}", source) for source, title in sorted(titles.items())]
        return document_rows(documents, counts), gr.update(choices=choices, value=None), current_status()

    def open_document(evt: gr.SelectData):
        row = evt.row_value or []
        doc_id = row[2] if len(row) > 2 else None
        return render_document(pipeline.index.store.documents.get(doc_id))

    def upload(files, progress=gr.Progress()):
        paths = [Path(f if isinstance(f, str) else getattr(f, "name", f)) for f in (files if isinstance(files, list) else [files]) if f]
        if not paths:
            return (render_message("请先选择文件。/ Choose a file first.", ok=False), *library())
        progress(0.05, desc="检查并保存 / Checking and saving")
        added, refused = [], []
        for path in paths:
            try:
                added.append(add_upload(path, path.name, upload_folder, taken=names_elsewhere(upload_folder, pipeline.settings.corpus)))
            except RejectedUpload as problem:
                refused.append(str(problem))
        if added:
            pipeline.reindex(warn=lambda m: print(m, file=sys.stderr), on_embedded=embedding_progress(progress),
                             waiting=lambda: progress(0.1, desc=WAITING))
        progress(1.0, desc="完成 / Done")
        lines = []
        for item in added:
            note = "（内容相同，已在文档库中）/ (same content, already in the corpus)" if item.already_there else ""
            lines.append(f"已加入并索引 {item.source}，{len(item.documents)} 篇文档{note}。/ Added and indexed {item.source}: {len(item.documents)} document(s).")
        message = "".join(render_message(line) for line in lines) + "".join(render_message(r, ok=False) for r in refused)
        return (message, *library())

    def delete(source, progress=gr.Progress()):
        if not source:
            return (render_message("请先选择要删除的文件。/ Choose a file to delete first.", ok=False), *library())
        try:
            delete_source(source, pipeline.settings.corpus, {e["path"] for e in pipeline.index.manifest.get("corpus", [])})
        except RejectedUpload as problem:
            return (render_message(str(problem), ok=False), *library())
        progress(0.4, desc="更新索引 / Updating the index")
        pipeline.reindex(warn=lambda m: print(m, file=sys.stderr), waiting=lambda: progress(0.2, desc=WAITING))
        return (render_message(f"已删除 {source}。/ Deleted {source}."), *library())

    def reindex(progress=gr.Progress()):
        progress(0.02, desc="建立索引 / Indexing")
        report = pipeline.reindex(warn=lambda m: print(m, file=sys.stderr), on_embedded=embedding_progress(progress),
                                  waiting=lambda: progress(0.02, desc=WAITING))
        return (render_message(report.summary()), *library())

    with gr.Blocks(title="文档问答 / Document Q&A", analytics_enabled=False) as demo:
        gr.Markdown(
            "# 文档问答 · Document Q&A\n回答均引自文档原文，并附出处。<br>Every answer is quoted from the documents, with its source.",
            elem_id="rag-header",
        )
        with gr.Tabs():
            with gr.Tab("对话 / Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=360):
                        chatbot = gr.Chatbot(
                            label="对话 / Chat", show_label=False, elem_id="rag-chat", height=560, render_markdown=False, sanitize_html=True,
                            latex_delimiters=[], allow_tags=False, feedback_options=("Like", "Dislike"), layout="panel", buttons=["copy_all"],
                            placeholder="在下方输入问题，回答会引用文档原文。<br>Type a question below; answers quote the documents.",
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                label="提问 / Ask", placeholder="例如：宁夏科协党组扩大会议由谁主持？ / e.g. Who chaired …?",
                                elem_id="rag-question", scale=5, lines=1, max_lines=4, autofocus=True,
                            )
                            ask_button = gr.Button("提问 / Ask", variant="primary", scale=1, min_width=90, elem_id="rag-ask")
                        with gr.Group(visible=False, elem_id="rag-correction") as correction_box:
                            right_answer = gr.Textbox(label="正确答案（可选）/ The right answer (optional)", elem_id="rag-right-answer",
                                                      lines=1, max_lines=3)
                            dont_say = gr.Checkbox(label="文档中没有答案 / The documents don't say", elem_id="rag-dont-say")
                            correction_button = gr.Button("提交更正 / Send correction", elem_id="rag-send-correction", size="sm")
                        feedback_message = gr.HTML("", elem_id="rag-feedback-message")
                        download = gr.DownloadButton("下载对话 (Markdown) / Download the chat", value=None, interactive=False,
                                                     elem_id="rag-download", size="sm")
                        gr.Examples(EXAMPLES, inputs=question, label="示例问题 / Example questions")
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("### 原文 / Source document")
                        viewer = gr.HTML(viewer_placeholder(), elem_id="rag-viewer", max_height=680)
                cite_target = gr.Textbox(visible="hidden", elem_id="rag-cite-target", show_label=False)

            with gr.Tab("文档 / Documents", id="documents"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=360):
                        table = gr.Dataframe(
                            headers=DOCUMENT_HEADERS, datatype=["str", "str", "str", "number"], interactive=False, wrap=True,
                            column_widths=["48%", "16%", "26%", "10%"],
                            label="已索引的文档（点击一行查看）/ Indexed documents (click a row to open)", elem_id="rag-documents",
                        )
                        with gr.Group():
                            upload_file = gr.File(
                                label=f"上传 / Upload ({' '.join(SUPPORTED_SUFFIXES)}, ≤ {MAX_UPLOAD_BYTES // (1024 * 1024)} MB)",
                                file_types=list(SUPPORTED_SUFFIXES), type="filepath", elem_id="rag-upload", file_count="multiple",
                            )
                            upload_button = gr.Button("上传并索引 / Upload and index", variant="primary")
                        with gr.Row():
                            delete_choice = gr.Dropdown(
                                label="删除文件 / Delete a file", choices=[], scale=4, elem_id="rag-delete-choice", allow_custom_value=True,
                            )
                            delete_button = gr.Button("删除 / Delete", variant="stop", scale=1, min_width=90)
                        library_message = gr.HTML("", elem_id="rag-library-message")
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("### 文档内容 / Document text")
                        document_viewer = gr.HTML(
                            '<div class="rag-doc rag-doc-empty"><p>点击表格中的一行查看文档。/ Click a row to open a document.</p></div>',
                            elem_id="rag-document-viewer", max_height=680,
                        )

            with gr.Tab("设置 / Settings", id="settings"):
                with gr.Row():
                    with gr.Column():
                        top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label="检索段落数 / Passages retrieved (top-k)")
                        max_answers = gr.Slider(1, 3, value=settings.max_answers, step=1, label="显示的回答数 / Answers shown")
                        show_scores = gr.Checkbox(value=False, label="显示得分 / Show scores")
                    with gr.Column():
                        gr.Markdown("### 索引状态 / Index status")
                        status = gr.HTML(current_status(), elem_id="rag-status")
                        reindex_button = gr.Button("重新索引文档库 / Re-index the corpus")

        turns = gr.State([])  # each reply's question, reading, answer and citations: follow-ups, feedback, the download
        feedback_row = gr.State(None)  # the 👎 a correction belongs to
        chat_inputs = [question, chatbot, turns, top_k, max_answers, show_scores]
        chat_outputs = [question, chatbot, turns, download]
        question.submit(respond, chat_inputs, chat_outputs, api_visibility="private")
        ask_button.click(respond, chat_inputs, chat_outputs, api_visibility="private")
        chatbot.clear(lambda: ([], None, gr.update(visible=False), gr.update(value=None, interactive=False)), None,
                      [turns, feedback_row, correction_box, download], api_visibility="private")  # a new conversation
        chatbot.like(on_like, turns, [feedback_row, correction_box, feedback_message], api_visibility="private", queue=False)
        correction_button.click(send_correction, [feedback_row, right_answer, dont_say],
                                [feedback_row, correction_box, feedback_message, right_answer, dont_say], api_visibility="private")
        cite_target.change(open_citation, cite_target, viewer, api_visibility="private").then(None, js=SCROLL_TO_CITATION)

        library_outputs = [table, delete_choice, status]
        demo.load(library, None, library_outputs, api_visibility="private")
        table.select(open_document, None, document_viewer, api_visibility="private")
        upload_button.click(upload, upload_file, [library_message, *library_outputs], api_name="upload")
        delete_button.click(delete, delete_choice, [library_message, *library_outputs], api_name="delete")
        reindex_button.click(reindex, None, [library_message, *library_outputs], api_name="reindex")
        gr.api(ask, api_name="ask")
    return demo


def launch_options(env=None) -> dict:
    """Where to serve and whether to ask for a login, from GRADIO_SERVER_NAME/PORT and RAG_AUTH_USER/PASSWORD."""
    env = os.environ if env is None else env
    options = {
        "server_name": env.get("GRADIO_SERVER_NAME") or "127.0.0.1",
        "server_port": int(env.get("GRADIO_SERVER_PORT") or 7860),
    }
    user, password = env.get("RAG_AUTH_USER"), env.get("RAG_AUTH_PASSWORD")
    if user and password:
        options["auth"] = (user, password)
    return options


def main() -> None:
    from rag.config import Settings
    from rag.index import IndexProblem
    from rag.pipeline import Pipeline

    try:
        settings = Settings.from_env()
    except ValueError as problem:  # one clear line for each bad RAG_* value, no traceback
        print(problem, file=sys.stderr)
        raise SystemExit(2) from None
    try:
        pipeline = Pipeline.open(settings)
    except IndexProblem as problem:  # a Milvus server that cannot be reached, a folder that is not an index: one line
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None
    demo = build_app(pipeline)
    demo.queue(default_concurrency_limit=2).launch(
        **launch_options(),
        theme=gr.themes.Soft(font=CJK_FONTS, font_mono=["ui-monospace", "Menlo", "Consolas", "monospace"]),
        css=CSS,
        head=HEAD,
        max_file_size=MAX_UPLOAD_BYTES,
        ssr_mode=False,
        show_error=True,
    )


if __name__ == "__main__":
    main()
