"""Synthetic workload and machine description shared by the benchmark parts."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime

from judge.core.models import Item

_QUESTION = ("任务：请回答单项选择题，要求只输出选项，不输出解释，答案放在<>里。\n题目：女性，{age}岁。活动时出现右胸撕裂样痛，"
             "呼吸困难，查体右肺呼吸音消失，叩诊呈鼓音。该患者最可能的诊断是：\nA. 右气胸\nB. 右胸腔积液\nC. 右肺炎\n"
             "D. 肺梗死\nE. 胸膜炎\n答：")
_RESPONSE = ("[case-{i}] 答案是B。患者突发胸痛伴呼吸困难，右肺呼吸音消失，考虑胸腔积液，建议行胸部X线检查及胸腔穿刺，"
             "必要时抗感染治疗。")
_OPTIONS = ["A. 右气胸", "B. 右胸腔积液", "C. 右肺炎", "D. 肺梗死", "E. 胸膜炎"]


def make_items(n: int, start: int = 0) -> list[Item]:
    """n realistic wrong responses (about 140 question and 80 response characters) with `[case-N]` markers."""
    return [
        Item(item_id=f"b{i:07d}", dimension="knowledge_qa", task="Med-Exam", question=_QUESTION.format(age=20 + i % 60),
             options=_OPTIONS, reference_answer="<A>", model="bench-7b", response=_RESPONSE.format(i=i))
        for i in range(start, start + n)
    ]


def machine() -> dict[str, str]:
    """nproc, CPU model, RAM, Python, the date and the load average (1/5/15 min), for the results file."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = "unknown"
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
            ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "nproc": str(os.cpu_count()), "cpu": cpu,
            "ram": ram, "python": platform.python_version(), "platform": platform.platform(), "load": load}
