"""Choice extraction on hand-made responses shaped like real MedBench outputs."""

from __future__ import annotations

import pytest

from judge.core.models import Item
from judge.medbench.extract import (
    Extraction,
    drop_reasoning,
    extract_choice,
    extract_items,
    extraction_rates,
    option_content,
    option_contents,
)

OPTS5 = ["A. 右气胸", "B. 右胸腔积液", "C. 右肺炎", "D. 肺梗死", "E. 胸膜炎"]
OPTS_SPACE = ["A 最大限度地降低对病人的伤害", "B 消除对病人的任何身心伤害", "C 避免对病人的任何身心伤害"]
OPTS_PAREN = ["(A)是", "(B)否"]
OPTS_GRADE = ["(A)：B", "(B)：C", "(C)：D", "(D)：X"]
OPTS9 = [f"{chr(65 + i)}. 诊断{i}" for i in range(9)]


@pytest.mark.parametrize(
    ("response", "options", "multi", "letters", "method"),
    [
        ("<A>", OPTS5, False, ["A"], "angle"),
        ("<A,C>", OPTS9, True, ["A", "C"], "angle"),
        ("< B, D, F >", OPTS9, True, ["B", "D", "F"], "angle"),
        ("<c, d, f>", OPTS9, True, ["C", "D", "F"], "angle"),
        ("<A 和 B 和 D>", OPTS9, True, ["A", "B", "D"], "angle"),
        ("答：<E>", OPTS5, False, ["E"], "angle"),
        ("<答：C>", OPTS5, False, ["C"], "angle"),
        ("<{D}>", OPTS5, False, ["D"], "angle"),
        ("＜Ｂ＞", OPTS5, False, ["B"], "angle"),                      # full-width brackets and letter
        ("答：Ｄ", OPTS5, False, ["D"], "answer_prefix"),                # full-width letter after 答
        ("<D>恶性淋巴瘤(弥漫大B细胞型)</D>", OPTS5, False, ["D"], "angle"),  # closing tag and "B细胞" ignored
        ("答：C.右气胸", OPTS5, False, ["C"], "answer_prefix"),
        ("答案：B", OPTS5, False, ["B"], "answer_prefix"),
        ("答：  \nC 避免对病人的任何身心伤害", OPTS_SPACE, False, ["C"], "answer_prefix"),
        ("A,B", OPTS9, True, ["A", "B"], "bare"),
        ("AB", OPTS9, True, ["A", "B"], "bare"),
        ("C", OPTS5, False, ["C"], "bare"),
        ("B**", OPTS_PAREN, False, ["B"], "bare"),
        ("D. 肺梗死", OPTS5, False, ["D"], "option_line"),
        ("百日咳最严重的并发症是：\n```\nB. 右胸腔积液\n```", OPTS5, False, ["B"], "option_line"),
        ("肺梗死", OPTS5, False, ["D"], "option_text"),
        ("<否>", OPTS_PAREN, False, ["B"], "option_text"),
        ("<X>", OPTS_GRADE, False, ["D"], "option_text"),             # grade X is option D's content
        ("正确答案: C. 右肺炎", OPTS5, False, ["C"], "answer_prefix"),
        ("**答案：**\n\nB, D", OPTS9, True, ["B", "D"], "answer_prefix"),
    ],
)
def test_patterns(response: str, options: list[str], multi: bool, letters: list[str], method: str) -> None:
    got = extract_choice(response, options, multi)
    assert (got.status, got.letters, got.method) == ("ok", letters, method)


def test_deepseek_reasoning_tail() -> None:
    response = (
        "<think>\n患者活动时出现右胸撕裂样痛，首先想到气胸，但也要排除胸腔积液。选项B不太符合急性起病，"
        "选项C肺炎应有发热。\n</think>\n\n"
        "患者年轻女性，活动后突发胸痛、呼吸困难，右肺呼吸音消失，符合自发性气胸的表现。"
        "胸腔积液起病较缓，肺炎多伴发热咳痰。\n\n综上所述，正确答案是A"
    )
    got = extract_choice(response, OPTS5, multi=False)
    assert (got.status, got.letters, got.method) == ("ok", ["A"], "reasoning_tail")


def test_think_block_letters_are_ignored() -> None:
    # The angle answer inside the reasoning must not compete with the final one.
    got = extract_choice("<think>先考虑<B>，再想想。</think>\n答：<D>", OPTS5, multi=False)
    assert got.letters == ["D"] and got.status == "ok"


def test_reasoning_cut_or_unopened() -> None:
    assert drop_reasoning("分析过程很长</think>答：<C>") == "答：<C>"
    assert drop_reasoning("<think>一</think>中间<think>二</think>\n最后") == "最后"
    cut = extract_choice("<think>\n右肺呼吸音消失提示气胸。\n\n所以答案是A", OPTS5, multi=False)
    assert (cut.status, cut.letters) == ("ok", ["A"])


def test_assertion_inside_prose_then_format_answer() -> None:
    got = extract_choice("肾小球硬化症是糖尿病的特异性病变，正确选项是A。\n\n答：<A>", OPTS5, multi=False)
    assert got.letters == ["A"] and got.method == "angle"


def test_conflicting_angle_answers_are_ambiguous() -> None:
    got = extract_choice("答：<B>\n\n不对，重新考虑后答：<D>", OPTS5, multi=False)
    assert got.status == "ambiguous" and got.letters == []
    assert "B vs D" in got.note


def test_conflicting_conclusions_in_same_paragraph_are_ambiguous() -> None:
    got = extract_choice("正确答案是B，也可能正确答案是C。", OPTS5, multi=False)
    assert got.status == "ambiguous" and got.letters == []


def test_last_paragraph_wins_over_earlier_claims() -> None:
    text = "有人认为答案是B。\n\n但结合体征，综上所述，正确答案是D。"
    got = extract_choice(text, OPTS5, multi=False)
    assert (got.status, got.letters, got.method) == ("ok", ["D"], "reasoning_tail")


def test_repeated_identical_answers_are_fine() -> None:
    # Echoing the prompt's worked example with the same letter is not a conflict.
    got = extract_choice("题目：示例\nA.否\nB.是\n答：<A>\n\n题目：本题\nA. 否\nB. 是\n答：<A>", OPTS_PAREN, multi=False)
    assert got.letters == ["A"] and got.status == "ok"


@pytest.mark.parametrize("response", ["", "   ", "<1>", "<None>", "咳粉红色泡沫痰提示左心衰。", "答：该患者应进一步行CT检查"])
def test_unextractable(response: str) -> None:
    got = extract_choice(response, OPTS5, multi=False)
    assert got.status == "unextractable" and got.letters == []


def test_letter_outside_options_is_not_an_answer() -> None:
    assert extract_choice("<F>", OPTS5, multi=False).status == "unextractable"


def test_words_are_not_letters() -> None:
    # "ACE" is a drug class, not options A, C and E of a single-choice question.
    assert extract_choice("答：ACE抑制剂", OPTS5, multi=False).status == "unextractable"


def test_several_letters_for_single_choice_are_kept_with_note() -> None:
    got = extract_choice("<ABCE>", OPTS5, multi=False)
    assert got.letters == ["A", "B", "C", "E"] and "single-choice" in got.note


def test_echoed_option_list_is_not_an_answer() -> None:
    echo = "\n".join(OPTS5)
    assert extract_choice(echo, OPTS5, multi=False).status == "unextractable"


def test_option_text_several_options_is_unextractable_for_single() -> None:
    assert extract_choice("右气胸或肺梗死", OPTS5, multi=False).status == "unextractable"


def test_short_latin_option_text_needs_a_whole_token() -> None:
    assert extract_choice("属于X级", OPTS_GRADE, multi=False).letters == ["D"]
    assert extract_choice("参考FDA分级", OPTS_GRADE, multi=False).status == "unextractable"  # no lone B/C/D/X


def test_option_content_labels() -> None:
    assert option_contents(OPTS5)[0] == "右气胸"
    assert option_contents(OPTS_SPACE)[1] == "消除对病人的任何身心伤害"
    assert option_contents(OPTS_GRADE) == ["B", "C", "D", "X"]
    assert option_content("ACTH升高", 0) == "ACTH升高"  # "A" here is content, not a label
    assert option_content("B. ACTH", 1) == "ACTH"


def _item(i: int, response: str, task_type: str = "single_choice", model: str = "m") -> Item:
    return Item(item_id=f"{model}/T/{i}/0", task="T", model=model, question="q", options=OPTS5, response=response,
                meta={"task_type": task_type})


def test_extract_items_and_rates() -> None:
    items = [_item(1, "<A>"), _item(2, ""), _item(3, "<A>\n<B>"), _item(4, "<A,B>", "multi_choice")]
    items.append(Item(item_id="m/O/5/0", task="O", model="m", question="q", response="text", meta={"task_type": "open"}))
    ex = extract_items(items)
    assert set(ex) == {"m/T/1/0", "m/T/2/0", "m/T/3/0", "m/T/4/0"}
    assert ex["m/T/4/0"].letters == ["A", "B"] and ex["m/T/4/0"].note == ""
    (row,) = extraction_rates(items, ex)
    assert (row.n, row.n_ok, row.n_ambiguous, row.n_unextractable, row.n_empty) == (4, 2, 1, 1, 1)
    assert row.failure_rate == pytest.approx(0.5)
    assert isinstance(ex["m/T/2/0"], Extraction)
