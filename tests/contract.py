"""The promises every response keeps, shared by the bad-input and property tests."""
from __future__ import annotations

import json

from rag.schema import response_to_json


def assert_contract(pipeline, response) -> dict:
    """The response keeps every promise of DESIGN.md: exact citations, answers only when answered, UTF-8-safe JSON."""
    assert response.answered in (True, False)
    assert response.answered == bool(response.answers)
    assert len(response.answers) <= pipeline.settings.max_answers
    documents = pipeline.index.store.documents
    for answer in response.answers:
        c = answer.citation
        assert documents[c.doc_id].text[c.start:c.end] == answer.text
        assert answer.short is None or answer.short in answer.text
    for hit in response.passages:
        document = documents[hit.passage.doc_id]
        assert document.text[hit.passage.start:hit.passage.end] == hit.passage.text
    as_json = json.dumps(response_to_json(response), ensure_ascii=False)
    as_json.encode("utf-8")  # strict: no lone surrogate may reach a client
    return json.loads(as_json)
