"""Placeholder until the chat lands: a page that shows the retrieved passages for a question."""
from __future__ import annotations

import gradio as gr

from rag.config import Settings
from rag.pipeline import Pipeline


def main() -> None:
    pipeline = Pipeline.open(Settings.from_env())

    def search(question: str) -> str:
        hits = pipeline.search(question)
        return "\n\n".join(f"[{i}] {h.passage.doc_id} ¶{h.passage.paragraph}\n{h.passage.text}" for i, h in enumerate(hits, 1))

    with gr.Blocks(title="文档问答 / Document QA") as demo:
        box = gr.Textbox(label="提问 / Ask")
        out = gr.Textbox(label="段落 / Passages", lines=12)
        box.submit(search, box, out)
    demo.launch(server_name="127.0.0.1")


if __name__ == "__main__":
    main()
