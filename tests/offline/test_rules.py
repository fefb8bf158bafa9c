"""Tests of the deterministic rules (judge.offline.rules): unanswered, output_error, format_mismatch."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from judge.core.exceptions import ConfigError
from judge.core.models import Item
from judge.core.taxonomy import load_taxonomy
from judge.offline.rules import (
    RULE_NAMES,
    RuleHit,
    check_format,
    check_output_error,
    check_unanswered,
    parse_format_instruction,
    run_rules,
)
from tests.conftest import MEDBENCH_PUBLIC

# --- MedBench-style prompts (instruction on top, then a worked example, then the query) -------------

MCQ = """任务：请回答单项选择题，要求只输出选项，不输出解释，答案放在<>里。
任务示例:
题目：
男性，45岁，突发胸骨后压榨样疼痛2小时。首选检查是:
A. 心电图
B. 胸部CT
C. 腹部B超
D. 胃镜
答：<A>

题目：
女性，25岁。劳累后出现左胸刺痛，呼吸困难，查体左肺呼吸音消失。最可能的诊断是:
A. 左侧气胸
B. 左侧胸腔积液
C. 大叶性肺炎
D. 肺栓塞
E. 心包炎

答: """
MCQ_OPTIONS = ["A. 左侧气胸", "B. 左侧胸腔积液", "C. 大叶性肺炎", "D. 肺栓塞", "E. 心包炎"]

DDX = """任务：根据患者信息回答问题，从问题选项中选出一个或多个正确回答的序号，填写到<>中，多个答案之间使用","分隔。

任务示例：
患者信息：老年女性，反复咳嗽咳痰10年，加重伴气促3天。
问题：可考虑的诊断有哪些
A. 慢性阻塞性肺疾病急性加重
B. 支气管扩张
C. 肺结核
D. 急性心肌梗死
答案：<A, B>

患者信息：
中年男性，饮酒后上腹剧痛6小时，向腰背部放射，血淀粉酶明显升高。

问题：
可考虑的诊断和处理有哪些？
A. 急性胰腺炎
B. 禁食、胃肠减压
C. 急性阑尾炎
D. 补液抗休克

答案："""
DDX_OPTIONS = ["A. 急性胰腺炎", "B. 禁食、胃肠减压", "C. 急性阑尾炎", "D. 补液抗休克"]

CMEEE = """医学命名实体识别任务：请从给定医学文本中，识别出命名实体。
实体识别的格式为：
药物：“”
身体部位：“”
症状和体征：“”
疾病：“”

任务示例：
医学文本：
患儿发热3天，咽部充血，予布洛芬退热。

实体识别：
药物：布洛芬
身体部位：咽部
症状和体征：发热, 咽部充血
疾病：

医学文本：
支气管哮喘患者发作时双肺可闻及哮鸣音，可吸入沙丁胺醇缓解。
实体识别："""

CMEIE = """医学关系抽取任务：请从给定医学文本中，识别出实体关系。
关系类型包括：
临床表现、药物治疗、病因、并发症。

关系抽取任务要求每个关系占输出的一行，每行的输出格式为：
关系类型：“”，头实体：“”，尾实体：“”。

任务示例：
医学文本：
缺铁性贫血常表现为乏力、面色苍白，可口服硫酸亚铁治疗。

关系识别：
关系类型：临床表现，头实体：缺铁性贫血，尾实体：乏力。
关系类型：临床表现，头实体：缺铁性贫血，尾实体：面色苍白。
关系类型：药物治疗，头实体：缺铁性贫血，尾实体：硫酸亚铁。

医学文本：
肺炎链球菌肺炎可并发感染性休克，首选青霉素治疗。
关系识别："""

DBMHG = """任务：假设你是一位专业医生，请根据以下医患对话记录，为患者总结一诉五史报告。
要求输出格式为：
主诉：“”
现病史：“”
既往史：“”
个人史：“”
家族史：“”
婚育史：“”

任务示例：
问诊对话：
患者：我咳嗽一周了。
医生：有发热吗？
患者：没有。

一诉五史：
主诉：咳嗽1周。
现病史：患者1周前出现咳嗽，无发热。
既往史：无
个人史：无
家族史：无
婚育史：无

问诊对话：
患者：医生，我这两天胃疼，吃完饭更明显。（女，32岁）
医生：以前有胃病吗？
患者：有胃炎，三年了。
医生：结婚了吗？
患者：结婚了，有一个孩子。

一诉五史："""

CDEE = """任务：给定病历或者医学影像报告，要求从中抽取临床发现事件的四个属性:主体词、解剖部位、描述词、发生状态。
发生状态：“不确定”或“否定”，肯定的情况不标注发生状态。

任务示例如下：

任务示例1：
输入报告：
患者无发热，诉右下腹隐痛。
输出事件：
[{'主体词': '发热', '发生状态': '否定', '描述词': [], '解剖部位': []}, {'主体词': '疼痛', '发生状态': '', '描述词': ['隐'], '解剖部位': ['右下腹']}]


输入报告：
患者咳嗽伴咳少量白色黏痰，无胸痛。
输出事件：
"""

SMDOC = """任务要求：从给定医疗报告中提取出结构化信息。

任务示例如下：
示例1
医疗报告:
免疫组化：肿瘤细胞 Ki67（60%+），HER2（1+）。
结构化结果: {'Ki67': '60%+', 'HER2': '1+'}

医疗报告:
免疫组化：肿瘤细胞 Ki67（30%+），HER2（0），EBER（-）。
结构化结果: """

MEDHG = """任务：请根据患者信息，从给定的候选科室中，为患者找到合适的挂号科室。
候选科室列表如下：{'消化内科', '感染科', '小儿内科', '内分泌代谢科', '普外科'}
 要求：
1. 输出只能包含候选科室列表中的表项，不要赘述；
2. 答案可能包含一个或多个科室，科室之间用"|"分隔。

任务示例：患者信息：
患者：40岁男性，体检发现血糖高，挂什么科？:
推荐科室：内分泌代谢科

患者信息：
患者：28岁，腹泻三天伴发热，应该看什么科？

推荐科室："""

CTC = """任务要求：对医学文本进行类别分类，请根据类别名称列表输出具体的类别名称。
类别名称列表如：
[Disease, Age, Therapy or Surgery, Pregnancy-related Activity, Laboratory Examinations]

任务示例：

示例1
医学文本：
1. 年龄18-65岁
类型名称：
Age

医学文本：
（3）妊娠或哺乳期妇女
类型名称：
"""

OPEN_QA = "高血压患者应该如何选择降压药物？"
DIALOGUE = """假设你是一位专业的门诊医生，请根据医患对话，做出合适的下一句回复。当前对话为：
患者：最近一周晚上胃疼，是怎么回事？（男，30岁）
医生："""


def item(question: str, response: str, options: list[str] | None = None) -> Item:
    return Item(item_id="t", question=question, response=response, options=options)


def assert_hit(hit: RuleHit | None, category: str, response: str, min_conf: float = 0.0) -> RuleHit:
    assert hit is not None, f"expected a {category} hit for {response!r}"
    assert hit.category == category
    assert hit.rule == category
    assert hit.evidence in response, "evidence must be a verbatim substring of the response"
    assert hit.evidence or not response.strip(), "evidence may be empty only for empty responses"
    assert 0.0 <= hit.confidence <= 1.0 and hit.confidence >= min_conf
    assert hit.rationale
    return hit


# --- RuleHit and run_rules --------------------------------------------------------------------------


def test_rulehit_rejects_out_of_range_confidence() -> None:
    with pytest.raises(ValidationError):
        RuleHit(rule="unanswered", category="unanswered", evidence="", confidence=1.5, rationale="x")
    with pytest.raises(ValidationError):
        RuleHit(rule="unanswered", category="not_a_category", evidence="", confidence=0.5, rationale="x")


def test_rule_names_follow_taxonomy_decision_order() -> None:
    order = load_taxonomy().decision_order
    assert list(RULE_NAMES) == sorted(RULE_NAMES, key=order.index)
    assert set(RULE_NAMES) == {"unanswered", "output_error", "format_mismatch"}


def test_run_rules_returns_first_hit_in_decision_order() -> None:
    refusal = item(MCQ, "抱歉，我无法在A与C之间作出选择。", MCQ_OPTIONS)  # also names options outside <>
    assert run_rules(refusal).rule == "unanswered"
    assert run_rules(refusal, enabled=["format_mismatch"]).rule == "format_mismatch"
    bare_refusal = item(MCQ, "抱歉，我无法回答这个问题。", MCQ_OPTIONS)  # names no option: nothing to put in <>
    assert run_rules(bare_refusal).rule == "unanswered"
    assert run_rules(bare_refusal, enabled=["format_mismatch"]) is None
    leaked = item(MCQ, "正确答案是A，因为左肺呼吸音消失。<|im_end|>", MCQ_OPTIONS)  # also no <>
    assert run_rules(leaked).rule == "output_error"
    assert run_rules(leaked, enabled=["unanswered", "format_mismatch"]).rule == "format_mismatch"
    assert run_rules(item(MCQ, "<A>", MCQ_OPTIONS)) is None
    assert run_rules(item(MCQ, "", MCQ_OPTIONS)).rule == "unanswered"
    assert run_rules(refusal, enabled=[]) is None


def test_run_rules_rejects_unknown_rule_name() -> None:
    with pytest.raises(ConfigError):
        run_rules(item(MCQ, "<A>"), enabled=["unanswered", "hallucination"])


# --- parse_format_instruction -------------------------------------------------------------------------


def test_parse_single_choice_prompt() -> None:
    spec = parse_format_instruction(MCQ)
    assert spec.answer_in_brackets and spec.only_option and spec.choice == "single"
    assert spec.separator is None and not spec.json_required and spec.has_instruction


def test_parse_multiple_choice_prompt_with_quoted_separator() -> None:
    spec = parse_format_instruction(DDX)
    assert spec.answer_in_brackets and spec.choice == "multiple" and spec.separator == ","
    assert not spec.only_option


@pytest.mark.parametrize(
    ("head", "choice", "sep"),
    [
        ("请回答多项选择题，答案放在<>中，多个答案用英文逗号,隔开。", "multiple", ","),
        ("以下为不定项选择题，将答案填写到<>中，多个选项之间用顿号分隔。", "multiple", "、"),
        ("请回答多选题，答案放在<>里，选项之间以“;”分隔，不要输出解释。", "multiple", ";"),
        ("单选题：只输出选项字母，答案放在<>里。", "single", None),
    ],
)
def test_parse_separator_and_choice_phrasings(head: str, choice: str, sep: str | None) -> None:
    spec = parse_format_instruction(head + "\n任务示例：\n题目：……\n答：<A>\n\n题目：……\n答：")
    assert spec.answer_in_brackets
    assert spec.choice == choice
    assert spec.separator == sep


def test_parse_reads_only_the_instruction_not_the_example() -> None:
    # The worked example shows "<A>", but the instruction above it asks for nothing of the kind.
    q = "任务：请回答下面的问题。\n任务示例：\n题目：X？\n答：<A>\n\n题目：Y？\n答："
    assert not parse_format_instruction(q).answer_in_brackets
    # Clinical text in a prompt without an example does not create a separator requirement.
    case = "左乳外上可见无回声区，可见分隔。\n简述本例病人的诊断及诊断依据。"
    assert parse_format_instruction(case).separator is None


def test_parse_entity_relation_and_section_formats() -> None:
    assert parse_format_instruction(CMEEE).line_labels == ["药物", "身体部位", "症状和体征", "疾病"]
    assert parse_format_instruction(CMEIE).line_fields == ["关系类型", "头实体", "尾实体"]
    assert parse_format_instruction(DBMHG).line_labels[:2] == ["主诉", "现病史"]
    assert parse_format_instruction(CMEIE).line_labels == []


def test_parse_structured_output_from_example_or_keyword() -> None:
    cdee = parse_format_instruction(CDEE)
    assert cdee.json_required and cdee.json_root == "array"
    smdoc = parse_format_instruction(SMDOC)
    assert smdoc.json_required and smdoc.json_root == "object"
    keyword = parse_format_instruction("请以JSON格式输出抽取结果。")
    assert keyword.json_required and keyword.json_root is None


def test_parse_label_sets() -> None:
    hg = parse_format_instruction(MEDHG)
    assert set(hg.allowed_labels) == {"消化内科", "感染科", "小儿内科", "内分泌代谢科", "普外科"}
    assert hg.separator == "|" and hg.only_option
    ctc = parse_format_instruction(CTC)
    assert "Therapy or Surgery" in ctc.allowed_labels and len(ctc.allowed_labels) == 5


@pytest.mark.parametrize("question", [OPEN_QA, DIALOGUE, "简述急性心肌梗死的治疗原则。"])
def test_parse_no_instruction(question: str) -> None:
    assert not parse_format_instruction(question).has_instruction


# --- check_unanswered -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "response", "min_conf"),
    [
        (OPEN_QA, "", 0.95),
        (OPEN_QA, "   \n\t ", 0.95),
        (OPEN_QA, "<|im_end|>", 0.9),
        (MCQ, "<>", 0.9),
        (MCQ, "答：", 0.85),
        (OPEN_QA, "抱歉，我无法回答这个问题。", 0.85),
        (OPEN_QA, "作为AI，我不能提供医疗建议。", 0.85),
        (OPEN_QA, "对不起，作为一个人工智能助手，我无法给出用药方案，请咨询医生。", 0.85),
        (MCQ, "<无法确定答案，需要更多信息>", 0.85),
        (MCQ, "抱歉，这道题没有提供足够的信息，无法作答。", 0.85),
        (OPEN_QA, "I'm sorry, but I cannot help with that request.", 0.85),
        (OPEN_QA, "As an AI language model, I cannot provide medical advice. Please consult a healthcare professional.", 0.85),
        (OPEN_QA, "请提供更多信息，例如您的年龄、血压水平和合并疾病。", 0.75),
        (OPEN_QA, "能否告诉我您目前的血压是多少？", 0.75),
        (OPEN_QA, "Could you please provide more details about the patient?", 0.75),
        (OPEN_QA, "这个问题比较复杂，建议您咨询专业医生。", 0.8),
        (OPEN_QA, "建议就医。", 0.8),
        (OPEN_QA, "请咨询医生", 0.8),
        (OPEN_QA, "您好，建议您尽快到医院就诊，由医生面诊后决定。", 0.8),
        (OPEN_QA, "高血压患者应该如何选择降压药物？", 0.7),
        (OPEN_QA, "高血压患者应该如何选择降压药物", 0.7),
    ],
)
def test_unanswered_positive(question: str, response: str, min_conf: float) -> None:
    assert_hit(check_unanswered(item(question, response, MCQ_OPTIONS if question == MCQ else None)),
               "unanswered", response, min_conf)


@pytest.mark.parametrize(
    ("question", "response"),
    [
        (OPEN_QA, "应根据血压水平和合并症选择，一般首选ACEI、ARB、钙通道阻滞剂或噻嗪类利尿剂，"
                  "合并糖尿病者优先ACEI/ARB。用药期间定期监测血压，如出现头晕等不适，建议及时就医。"),
        (OPEN_QA, "首选长效钙通道阻滞剂。建议就医"),
        (MCQ, "<A>"),
        (MCQ, "答：<B>"),
        (MCQ, "A"),
        (MCQ, "抱歉之前未能提供答案，以下是正确的答案：\n\n答: <C>"),
        (DDX, "<A, B, D>"),
        (CDEE, "[]"),
        (CMEEE, "药物：\n身体部位：\n症状和体征：\n疾病："),
        (OPEN_QA, "利尿剂。"),
        ("成人空腹血糖正常值的上限是多少？", "成人空腹血糖正常值的上限是6.1mmol/L。"),
        ("该病人最可能的诊断是什么？", "该病人最可能的诊断是急性胰腺炎。"),
        (OPEN_QA, "抱歉，我无法给出个体化方案，但一般首选ACEI或ARB类药物，如贝那普利、缬沙坦，并配合低盐饮食。"),
        (OPEN_QA, "Thiazide diuretics or ACE inhibitors are usually first-line; consult your doctor if side effects occur."),
        (DIALOGUE, "请问您有没有做过胃镜检查？"),
        (DIALOGUE, "建议您去医院做个胃镜检查。"),
        (MEDHG, "推荐科室：消化内科|感染科"),
    ],
)
def test_unanswered_negative(question: str, response: str) -> None:
    options = MCQ_OPTIONS if question == MCQ else DDX_OPTIONS if question == DDX else None
    assert check_unanswered(item(question, response, options)) is None


def test_asking_back_is_unanswered_outside_dialogue_only() -> None:
    response = "请问您有没有做过胃镜检查？"
    assert check_unanswered(item(DIALOGUE, response)) is None
    assert_hit(check_unanswered(item(OPEN_QA, response)), "unanswered", response)


V4_EXAM = ("## 任务：请回答单项选择题，从问题选项中选出一个正确回答的序号，填写到<>中。\n\n"
           "## 要求：1. 只从给定的选项中选择序号，填写到<>中；2. 需要区分大小写；3. 不要输出文字。\n\n"
           "## 题目：下列哪一项不是老年病的临床特点 A. 临床表现不典型\nB. 疾病发展缓慢\nC. 多病共存\nD. 单一病种")
V4_SAFETY = ("你是一名医疗安全领域专家，请完成下列医疗安全单选题，只需要输出最适合的选项字母，不需要输出多余的解释。"
             "示例输出：A\n## 问题\n医疗膳食的留样时间至少为：\nA. 72小时\nB. 48小时\nC. 1周")


@pytest.mark.parametrize("question", [V4_EXAM, V4_SAFETY, OPEN_QA, DIALOGUE])
@pytest.mark.parametrize("response", ["明白了，请提供题目。", "明白了，请提供题目", "好的，请把题目发给我。",
                                      "收到，请提供具体的题目和选项，我来帮你解答。", "Please provide the question."])
def test_asking_for_the_question_is_unanswered_never_format_mismatch(question: str, response: str) -> None:
    hit = run_rules(item(question, response))
    assert_hit(hit, "unanswered", response, 0.85)
    assert hit is not None and "asks to be given the question" in hit.rationale


@pytest.mark.parametrize("question", [V4_EXAM, V4_SAFETY, OPEN_QA])
@pytest.mark.parametrize("response", ["", "   ", "\n\t "])
def test_empty_answers_are_unanswered_on_choice_and_open_tasks(question: str, response: str) -> None:
    assert_hit(run_rules(item(question, response)), "unanswered", response, 0.99)


@pytest.mark.parametrize("response", ["<D>", "D", "请提供题目中的D项，单一病种不是老年病的特点，答案<D>",
                                      "题目问的是老年病特点，D. 单一病种不是"])
def test_answers_that_mention_the_question_are_not_unanswered(response: str) -> None:
    assert check_unanswered(item(V4_EXAM, response)) is None


# --- check_output_error --------------------------------------------------------------------------------


def _latin1_mojibake(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def _cp1252_mojibake(text: str) -> str:
    return text.encode("utf-8").decode("cp1252", errors="replace")


@pytest.mark.parametrize(
    ("question", "response", "min_conf"),
    [
        (OPEN_QA, "首选钙通道阻滞剂，如氨氯地平。<|im_end|>", 0.9),
        (OPEN_QA, "首选钙通道阻滞剂。<|im_end|><|im_start|>user", 0.9),
        (OPEN_QA, "首选钙通道阻滞剂。</s>", 0.9),
        (OPEN_QA, "[INST] 高血压如何用药 [/INST] 首选利尿剂。", 0.9),
        (OPEN_QA, "首选利尿剂。<|endoftext|>", 0.9),
        (OPEN_QA, "<|assistant|>首选利尿剂。", 0.9),
        (OPEN_QA, "首选利尿剂。<end_of_turn>", 0.9),
        (OPEN_QA, "答案：{answer}", 0.8),
        (OPEN_QA, "首选利尿剂。{{response}}", 0.8),
        (OPEN_QA, "### Instruction:\n回答问题\n### Response:\n首选利尿剂。", 0.8),
        (OPEN_QA, "患者应首先" + "进行" * 8 + "<|im_end|>", 0.9),
        (OPEN_QA, "患者应首先" + "进行" * 8, 0.85),
        (OPEN_QA, "患者血压控制不佳，" + "需要调整药物剂量，" * 6, 0.85),
        (OPEN_QA, "1. 低盐饮食\n" + "2. 规律服用降压药物并监测血压\n" * 3, 0.75),
        (OPEN_QA, "应长期规律服药。" * 3, 0.75),
        (OPEN_QA, _latin1_mojibake("高血压患者应长期规律服用降压药物。"), 0.85),
        (OPEN_QA, _cp1252_mojibake("高血压患者应长期规律服用降压药物。"), 0.85),
        (OPEN_QA, "PrÃ©sentation Ã©vidente dâ€™une hypertension", 0.85),
        (OPEN_QA, "患者应低盐饮食\ufffd\ufffd规律服药。", 0.85),
        (MCQ, "<A>\n\n题目：\n男性，60岁，突发剧烈头痛伴呕吐，首选检查是：\nA. 头颅CT\nB. 腰穿\n答：<A>", 0.75),
        (CDEE, "[{'主体词': '咳嗽', '发生状态': '', '描述词': [], '解剖部位': []}]\n\n输入报告：\n患者诉头晕乏力两天，无恶心呕吐。\n输出事件：\n[]", 0.75),
        (CDEE, "[{'主体词': '咳嗽', '发生状态': '', '描述词': [], '解剖部位': []}, {'主体词': '咳痰', '发生状态': '', '描述词': ['少量", 0.7),
        (OPEN_QA, "高血压的药物治疗应遵循个体化原则。常用药物包括钙通道阻滞剂、血管紧张素转换酶抑制剂、"
                  "血管紧张素受体拮抗剂、利尿剂和β受体阻滞剂。对于合并糖尿病的患者，", 0.65),
        (OPEN_QA, "高血压的药物治疗应遵循个体化原则。常用药物包括钙通道阻滞剂和利尿剂等。对于合并糖尿病或慢性肾病的患者，"
                  "应优先选择血管紧张素转换酶抑制剂，一般起始剂量为每日一次，根据血压逐渐调整至目标范", 0.5),
    ],
)
def test_output_error_positive(question: str, response: str, min_conf: float) -> None:
    assert_hit(check_output_error(item(question, response)), "output_error", response, min_conf)


@pytest.mark.parametrize(
    ("question", "response"),
    [
        (MCQ, "<A>"),
        (MCQ, ""),
        (CMEEE, "药物：沙丁胺醇\n身体部位：双肺\n症状和体征：哮鸣音\n疾病：支气管哮喘"),
        (CMEEE, "药物： \n身体部位： \n症状和体征： \n疾病："),
        (DBMHG, "主诉：餐后上腹痛2天。\n现病史：患者2天前无明显诱因出现上腹部疼痛，进食后加重，无恶心呕吐，无黑便。"
                "自起病以来，精神、睡眠可，大小便正常，体重无明显变化。\n既往史：慢性胃炎3年。\n个人史：无\n"
                "家族史：无\n婚育史：已婚，育有1子"),
        (OPEN_QA, "首选阿莫西林。对阿莫西林过敏者可改用大环内酯类，如阿奇霉素。"),
        (OPEN_QA, "二甲双胍是一线用药；肾功能不全时二甲双胍需减量或停用。"),
        (OPEN_QA, "| 药物 | 剂量 |\n|---|---|\n| 氨氯地平 | 5 mg qd |\n| 缬沙坦 | 80 mg qd |"),
        (CDEE, '[\n  {\n    "主体词": "咳嗽",\n    "发生状态": "",\n    "描述词": [],\n    "解剖部位": []\n  },\n'
               '  {\n    "主体词": "胸痛",\n    "发生状态": "否定",\n    "描述词": [],\n    "解剖部位": []\n  },\n'
               '  {\n    "主体词": "咳痰",\n    "发生状态": "",\n    "描述词": [],\n    "解剖部位": []\n  }\n]'),
        (MCQ, "题目：\n女性，25岁。劳累后出现左胸刺痛，呼吸困难。\n答：<A>"),
        (OPEN_QA, "The café recommends naïve patients start with low-dose therapy."),
        (OPEN_QA, "应低盐饮食，规律服药，监测血压，若有头晕胸闷等不适，建议及时就医"),
        (OPEN_QA, "第二代头孢菌素"),
        (OPEN_QA, "常见致病菌包括：肺炎链球菌、流感嗜血杆菌、卡他莫拉菌、金黄色葡萄球菌、肺炎克雷伯菌等。"
                  "治疗上应尽早经验性使用抗生素，并根据药敏结果调整。"),
        (SMDOC, "{'Ki67': '30%+', 'HER2': '0', 'EBER': '-'}"),
    ],
)
def test_output_error_negative(question: str, response: str) -> None:
    assert check_output_error(item(question, response)) is None


# --- check_format ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "response", "min_conf", "evidence"),
    [
        (MCQ, "正确答案是A，因为左肺呼吸音消失提示气胸。", 0.85, "正确答案是A，因为左肺呼吸音消失提示气胸。"),
        (MCQ, "A", 0.85, "A"),
        (MCQ, "答：A. 左侧气胸", 0.85, "答：A. 左侧气胸"),
        (MCQ, "<A>\n解析：患者突发胸痛、呼吸困难，患侧呼吸音消失，符合气胸表现。", 0.8, None),
        (MCQ, "左肺呼吸音消失，提示气胸。\n\n答：<A>", 0.8, "左肺呼吸音消失，提示气胸。"),
        (MCQ, "<A> 左侧气胸", 0.55, "左侧气胸"),
        (MCQ, "<AB>", 0.7, "<AB>"),
        (MCQ, "<A 和 B>", 0.7, "<A 和 B>"),
        (MCQ, "<气胸>", 0.55, "<气胸>"),
        (MCQ, "<答：A>", 0.55, "<答：A>"),
        (DDX, "<A、B、D>", 0.75, "<A、B、D>"),
        (DDX, "<ABD>", 0.75, "<ABD>"),
        (DDX, "<A B D>", 0.75, "<A B D>"),
        (DDX, "<A，B，D>", 0.55, "<A，B，D>"),
        (DDX, "根据病史考虑急性胰腺炎。\n\n答案：A, B, D", 0.85, "答案：A, B, D"),
        (CDEE, "主体词：咳嗽；发生状态：无；描述词：无", 0.8, None),
        (CDEE, "以下是抽取结果：\n[{'主体词': '咳嗽', '发生状态': '', '描述词': [], '解剖部位': []}]", 0.65, "以下是抽取结果："),
        (CDEE, "{'主体词': '咳嗽', '发生状态': '', '描述词': [], '解剖部位': []}", 0.55, None),
        (SMDOC, "'Ki67': '30%+', 'HER2': '0', 'EBER': '-'", 0.8, None),
        (SMDOC, "['Ki67', '30%+']", 0.55, None),
        (CMEEE, "文本中的疾病是支气管哮喘，药物是沙丁胺醇。", 0.8, None),
        (CMEEE, "1. 支气管哮喘（疾病）\n2. 沙丁胺醇（药物）", 0.8, None),
        (CMEIE, "肺炎链球菌肺炎的并发症是感染性休克，治疗药物是青霉素。", 0.8, None),
        (CMEIE, "好的，我先分析文本。\n首先识别实体，包括疾病和药物。\n然后判断关系类型。\n"
                "关系类型：并发症，头实体：肺炎链球菌肺炎，尾实体：感染性休克。", 0.6, None),
        (CMEIE, "关系类型：“”，头实体：“”，尾实体：“”。", 0.65, None),
        (DBMHG, "患者为32岁女性，近两天出现餐后上腹痛，既往慢性胃炎三年，已婚育有一子。", 0.8, None),
        (MEDHG, "消化内科、感染科", 0.75, "消化内科、感染科"),
        (MEDHG, "消化内科，感染科", 0.75, "消化内科，感染科"),
        (MEDHG, "建议您挂消化内科，因为腹泻伴发热多为肠道感染，医生会安排大便常规检查。", 0.65, None),
        (MEDHG, "消化内科|急诊科", 0.65, "急诊科"),
        (CTC, "妊娠期", 0.6, "妊娠期"),
    ],
)
def test_format_positive(question: str, response: str, min_conf: float, evidence: str | None) -> None:
    options = MCQ_OPTIONS if question == MCQ else DDX_OPTIONS if question == DDX else None
    hit = assert_hit(check_format(item(question, response, options)), "format_mismatch", response, min_conf)
    if evidence is not None:
        assert hit.evidence == evidence


@pytest.mark.parametrize(
    ("question", "response"),
    [
        (MCQ, "<A>"),
        (MCQ, "答：<A>"),
        (MCQ, "答: <A>"),
        (MCQ, "< A >"),
        (MCQ, "答案：<E>"),
        (MCQ, "<a>"),
        (MCQ, ""),
        (DDX, "<A, B, D>"),
        (DDX, "<A,B,D>"),
        (DDX, "<A>"),
        (DDX, "左上腹痛向腰背部放射，淀粉酶升高，符合急性胰腺炎。\n答案：<A, B, D>"),
        (CDEE, "[{'主体词': '咳嗽', '发生状态': '', '描述词': [], '解剖部位': []}, "
               "{'主体词': '胸痛', '发生状态': '否定', '描述词': [], '解剖部位': []}]"),
        (CDEE, "[]"),
        (CDEE, '```json\n[{"主体词": "咳嗽", "发生状态": "", "描述词": [], "解剖部位": []}]\n```'),
        (CDEE, "输出事件：\n[{'主体词': '咳嗽', '发生状态': '', '描述词': [], '解剖部位': []}]"),
        (SMDOC, "{'Ki67': '30%+', 'HER2': 0, 'EBER': '-'}"),
        (SMDOC, "结构化结果: {'Ki67': '30%+', 'HER2': 0, 'EBER': '-'}"),
        (CMEEE, "药物：沙丁胺醇\n身体部位：双肺\n症状和体征：哮鸣音\n疾病：支气管哮喘"),
        (CMEEE, "身体部位：双肺\n疾病：支气管哮喘"),
        (CMEEE, "实体识别：\n- **药物**：沙丁胺醇\n- **疾病**：支气管哮喘"),
        (CMEIE, "关系类型：并发症，头实体：肺炎链球菌肺炎，尾实体：感染性休克。\n"
                "关系类型：药物治疗，头实体：肺炎链球菌肺炎，尾实体：青霉素。"),
        (CMEIE, "关系识别：\n关系类型：“并发症”，头实体：“肺炎链球菌肺炎”，尾实体：“感染性休克”。"),
        (DBMHG, "主诉：餐后上腹痛2天。\n现病史：患者2天前出现上腹痛，进食后加重。\n既往史：慢性胃炎3年。\n"
                "个人史：无\n家族史：无\n婚育史：已婚，育有1子"),
        (DBMHG, "主诉：餐后上腹痛2天。\n现病史：患者2天前出现上腹痛。"),  # missing sections: not a format issue
        (MEDHG, "消化内科|感染科"),
        (MEDHG, "推荐科室：消化内科|感染科"),
        (MEDHG, "<消化内科>"),
        (MEDHG, "消化内科"),
        (CTC, "Pregnancy-related Activity"),
        (CTC, "类型名称：\nPregnancy-related Activity"),
        (CTC, "<Pregnancy-related Activity>"),
        (OPEN_QA, "A"),
        (OPEN_QA, "首选钙通道阻滞剂。"),
        (DIALOGUE, "十二指肠溃疡多与幽门螺杆菌感染有关，建议做呼气试验。"),
    ],
)
def test_format_negative(question: str, response: str) -> None:
    options = MCQ_OPTIONS if question == MCQ else DDX_OPTIONS if question == DDX else None
    assert check_format(item(question, response, options)) is None


# --- real MedBench outputs (skipped when the shared data is absent) -----------------------------------

DATA = MEDBENCH_PUBLIC


def _real_records(model: str, task: str) -> tuple[list[dict], int]:
    rows, bad = [], 0
    for line in (DATA / "outputs" / model / f"{task}.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def _real_item(row: dict) -> Item:
    answer = row.get("answer")
    return Item(item_id="real", question=row["question"], options=row.get("options"),
                response=answer if isinstance(answer, str) else "")


needs_data = pytest.mark.skipif(not (DATA / "outputs").is_dir(), reason="MedBench public sample not available")


@needs_data
def test_rules_run_over_all_real_outputs() -> None:
    n = 0
    bad_total = 0
    for path in sorted((DATA / "outputs").glob("*/*.jsonl")):
        rows, bad = _real_records(path.parent.name, path.stem)
        bad_total += bad
        for row in rows:
            it = _real_item(row)
            for hit in (check_unanswered(it), check_output_error(it), check_format(it), run_rules(it)):
                if hit is not None:
                    assert hit.evidence in it.response
                    assert hit.evidence or not it.response.strip()
                    assert 0.0 <= hit.confidence <= 1.0
            n += 1
    assert n > 7000
    assert bad_total > 0  # the deepseek files carry merge-conflict marker lines


@needs_data
def test_real_gpt4o_choice_answers_pass_all_rules() -> None:
    rows, _ = _real_records("gpt40", "Med-Exam")
    answered = [r for r in rows if isinstance(r.get("answer"), str) and r["answer"].strip()]
    assert answered
    assert all(run_rules(_real_item(r)) is None for r in answered if r["answer"].startswith("<"))


@needs_data
def test_real_deepseek_choice_answers() -> None:
    rows, _ = _real_records("deepseek-32b", "Med-Exam")
    label_then_bracket = [r for r in rows if isinstance(r.get("answer"), str) and r["answer"].startswith("答：<")
                          and len(r["answer"]) <= 6]
    assert label_then_bracket and all(check_format(_real_item(r)) is None for r in label_then_bracket)
    bare = [r for r in rows if isinstance(r.get("answer"), str) and len(r["answer"]) == 3
            and r["answer"].startswith("答：") and r["answer"][-1].isupper()]
    assert bare
    for r in bare:
        hit = check_format(_real_item(r))
        assert hit is not None and "<>" in hit.rationale
    explained = [r for r in rows if isinstance(r.get("answer"), str) and len(r["answer"]) > 40
                 and r["answer"].rstrip().endswith(">") and "<" not in r["answer"][:20]]
    assert explained
    assert all(check_format(_real_item(r)) is not None for r in explained)


@needs_data
def test_real_gpt4o_refusals_and_substantive_answers() -> None:
    rows, _ = _real_records("gpt40", "MedHC")
    refusals = [r for r in rows if r.get("answer") == "抱歉，我无法回答这个问题。"]
    assert refusals and all(check_unanswered(_real_item(r)) is not None for r in refusals)
    mixed = [r for r in rows if (r.get("answer") or "").startswith("抱歉") and "骨密度" in (r.get("answer") or "")]
    assert mixed and all(check_unanswered(_real_item(r)) is None for r in mixed)


@needs_data
def test_real_truncated_and_unbraced_baichuan_outputs() -> None:
    rows, _ = _real_records("baichun-m1", "MedMC")
    cut = [r for r in rows if (r.get("answer") or "").endswith("的范")]
    assert cut and all(check_output_error(_real_item(r)) is not None for r in cut)
    rows, _ = _real_records("baichun-m1", "SMDoc")
    unbraced = [r for r in rows if (r.get("answer") or "").startswith("'")]
    assert unbraced
    assert all(check_format(_real_item(r)).confidence >= 0.5 for r in unbraced)


def test_english_contractions_do_not_split_refusals():
    from judge.core.models import Item
    from judge.offline.rules import check_unanswered

    q = "患者，女，28岁，妊娠12周，甲亢。首选哪种药物治疗？"
    hit = check_unanswered(Item(item_id="c1", question=q, response="I'm sorry, but I can't help with that request."))
    assert hit is not None and hit.category == "unanswered"
    assert check_unanswered(Item(item_id="c2", question=q, response="It's propylthiouracil; the patient's "
                                                                    "first trimester rules out methimazole.")) is None


@pytest.mark.parametrize("response", [
    "由于涉及孕妇用药安全，我无法提供具体的用药方案，请咨询产科医生。",
    "鉴于该问题涉及个体化诊疗，我不能提供诊断意见。",
    "考虑到患者情况复杂，建议您咨询医生，我无法给出具体的治疗建议。",
    "因为缺少检查结果，抱歉，我无法作答。",
    "出于安全考虑，我无法回答与处方药剂量相关的问题，请遵医嘱。",
])
@pytest.mark.parametrize("question", [OPEN_QA, MCQ])
def test_refusals_after_a_reason_clause_are_unanswered(question: str, response: str) -> None:
    hit = run_rules(item(question, response, MCQ_OPTIONS if question == MCQ else None))
    assert_hit(hit, "unanswered", response, 0.8)


@pytest.mark.parametrize("response", [
    "由于患者肾功能不全，应避免使用二甲双胍，首选胰岛素控制血糖。",
    "鉴于患者对青霉素过敏，无法选择阿莫西林，可改用阿奇霉素。",
    "考虑到孕妇用药安全，我无法推荐ACEI，但可选用拉贝洛尔或硝苯地平控制血压。",
    "由于题干信息有限，我无法完全确定，但最可能的诊断是急性胰腺炎，应查血淀粉酶。",
    "因为存在禁忌证，不能溶栓，应尽快行急诊PCI。",
])
def test_real_answers_with_a_reason_clause_are_not_unanswered(response: str) -> None:
    assert check_unanswered(item(OPEN_QA, response)) is None


@pytest.mark.parametrize("response", ["嗯嗯。", "好的", "您好！"])
def test_a_bare_acknowledgement_is_unanswered(response: str) -> None:
    assert_hit(check_unanswered(item(OPEN_QA, response)), "unanswered", response, 0.8)


@pytest.mark.parametrize("response", ["请上传皮损照片，以便我进一步判断。",
                                      "请提供患者的血钾水平和肾功能情况，我才能判断。"])
def test_asking_for_what_is_needed_to_judge_is_unanswered(response: str) -> None:
    assert_hit(check_unanswered(item(OPEN_QA, response)), "unanswered", response, 0.75)


def test_undecoded_byte_level_tokens_are_an_output_error() -> None:
    response = "<A,B>ĠĠĊĊ答案Ġ解析ĊĠĠĠĠ原发性ĠĠ甲减Ċ"
    assert_hit(check_output_error(item(MCQ, response, MCQ_OPTIONS)), "output_error", response, 0.85)
    assert check_output_error(item(OPEN_QA, "Ġozo is a Maltese name.")) is None


DRUGCA = "任务：请判断下列用药是否合理，先简要说明理由，最后将结论（合理/不合理）放在<>里。\n患者，男，66岁，长期服用辛伐他汀，现加用克拉霉素。"
CMEEE_OUTPUT_FORM = CMEEE.replace("实体识别的格式为：", "实体识别的输出形式为：")  # a form the format reader does not parse


def test_a_worded_bracket_answer_is_the_format_the_prompt_lists() -> None:
    assert parse_format_instruction(DRUGCA).bracket_words == ["合理", "不合理"]
    assert parse_format_instruction("请判断，最后将“是”或“否”放在<>里。").bracket_words == ["是", "否"]
    assert run_rules(item(DRUGCA, "理由：两药经不同途径代谢，无相互作用。<合理>")) is None
    hit = run_rules(item(DRUGCA, "两药合用会升高他汀浓度，结论：不合理。"))
    assert hit is not None and hit.rule == "format_mismatch" and "合理/不合理" in hit.rationale
    assert run_rules(item(DRUGCA, "两药能否合用需要由临床医生综合评估后决定。"), enabled=["format_mismatch"]) is None


def test_a_response_naming_no_option_is_no_format_error() -> None:
    restated = "本题问最可能的诊断，选项有左侧气胸、左侧胸腔积液、大叶性肺炎、肺栓塞和心包炎。"  # every option listed
    for text in (restated, "患者的年龄和病程是多少？", "咳粉红色泡沫痰提示左心衰。"):
        assert run_rules(item(MCQ, text, MCQ_OPTIONS), enabled=["format_mismatch"]) is None
    for text in ("正确答案是A，左侧呼吸音消失。", "最可能是左侧气胸。"):  # a letter, or one option's wording
        hit = run_rules(item(MCQ, text, MCQ_OPTIONS), enabled=["format_mismatch"])
        assert hit is not None and hit.confidence == 0.9


@pytest.mark.parametrize("response", ["Blood Donation<｜end▁of▁sentence｜>", "<｜Assistant｜>答案是<C>"])
def test_fullwidth_special_tokens_are_an_output_error(response: str) -> None:
    hit = run_rules(item(MCQ, response, MCQ_OPTIONS))
    assert hit is not None and hit.rule == "output_error" and hit.confidence == 0.95


def test_cut_off_answers_are_an_output_error() -> None:
    opened = run_rules(item(MCQ, "根据题意，左侧呼吸音消失提示气胸，因此答案是<", MCQ_OPTIONS))
    assert opened is not None and opened.rule == "output_error"
    cut = run_rules(item(CTC, "Disea"))
    assert cut is not None and cut.rule == "output_error" and cut.evidence == "Disea"
    assert run_rules(item(CTC, "Disease")) is None
    assert run_rules(item(CTC, "Pregnancy-related Activity")) is None


def test_a_complete_entity_answer_is_not_a_continued_template() -> None:
    answer = "药物：沙丁胺醇\n身体部位：双肺\n症状和体征：哮鸣音\n疾病：支气管哮喘"
    assert run_rules(item(CMEEE_OUTPUT_FORM, answer), enabled=["output_error"]) is None
    more = answer + "\n\n医学文本：\n患儿咳嗽2天。\n实体识别：\n症状和体征：咳嗽"
    hit = run_rules(item(CMEEE_OUTPUT_FORM, more), enabled=["output_error"])
    assert hit is not None and hit.rule == "output_error"


def test_a_run_on_record_ending_in_a_referral_is_not_unanswered() -> None:
    record = ("患者女36岁因发热寒战伴左侧腰痛3天入院查体左肾区叩击痛阳性尿培养大肠埃希菌考虑急性肾盂肾炎予头孢曲松治疗"
              "第3天体温正常出院后口服头孢呋辛酯继续8天多饮水勤排尿如再次发热腰痛及时就诊。")
    assert run_rules(item(SMDOC, record), enabled=["unanswered"]) is None
    assert run_rules(item(OPEN_QA, "建议及时就诊。"), enabled=["unanswered"]).rule == "unanswered"


def test_refusing_to_classify_after_a_reason_is_unanswered() -> None:
    hit = run_rules(item(CTC, "由于该条目涉及受试者个人生活习惯等隐私信息，我无法对其进行分类。"))
    assert hit is not None and hit.rule == "unanswered"


def test_loop_prefilter_never_rules_out_a_loop():
    import random

    from judge.offline.rules.output_error import _LOOP, _may_loop

    rng = random.Random(11)
    seen_loop = seen_no_loop = 0
    for _ in range(4000):
        unit = "".join(rng.choices("ab字，\U0001f600", k=rng.randint(1, 8)))
        text = ("".join(rng.choices("xyz患者", k=rng.randint(0, 90))) + unit * rng.randint(2, 7)
                + "".join(rng.choices("xyz治疗", k=rng.randint(0, 60))))
        loops = _LOOP.search(text) is not None
        if loops:
            assert _may_loop(text), text
        seen_loop += loops
        seen_no_loop += not _may_loop(text)
    assert seen_loop > 500 and seen_no_loop > 500  # both outcomes were exercised
