"""The LLM judge: one item per call, an Instructor-typed `JudgeOutput`, mapped to a verdict.

The call itself (transport, validation re-asks, retries, errors as statuses) is `judge.llm.call`; this module is
the judge's prompt and the mapping of a call's outcome to a `Verdict`.
"""

from __future__ import annotations

from typing import Any

from judge.core.models import Item, JudgeOutput, Verdict
from judge.core.settings import JudgeSettings, make_judge_id
from judge.core.sync import run_sync
from judge.core.taxonomy import Taxonomy, load_taxonomy
from judge.llm.call import CallOutcome, LLMCall
from judge.llm.decoding import schema_response_format
from judge.llm.injection import item_flags
from judge.llm.letters import LetteredJudgeOutput, letter_map, to_codes
from judge.llm.prompt import PromptTemplate, load_prompt
from judge.llm.structured import StructuredCall, instructor_mode


class LLMJudge:
    """Classify a wrong response into one taxonomy category with an LLM (async `ajudge`, sync `judge`)."""

    def __init__(self, settings: JudgeSettings, prompt: PromptTemplate | None = None,
                 taxonomy: Taxonomy | None = None) -> None:
        self.settings = settings
        self.prompt = prompt or load_prompt(settings.prompt)
        self.taxonomy = taxonomy or load_taxonomy(settings.taxonomy)
        self.model = settings.model
        self.judge_id = make_judge_id(self.identity())
        mode = instructor_mode(settings.mode)
        if settings.schema_in_response_format and settings.mode == "tools":
            raise ValueError("schema_in_response_format needs mode json, md_json or json_schema, not tools")
        self.letters: dict[str, str] | None = None
        """{letter: code} under the label-renaming probe (categories shown as A–H), else None."""
        answer_model: type[JudgeOutput] = JudgeOutput
        if settings.category_labels == "letters":
            self.letters = letter_map(settings.category_order or self.taxonomy.codes)
            answer_model = LetteredJudgeOutput
        self.call = LLMCall(settings, StructuredCall(answer_model, mode))

    @property
    def transport(self) -> Any:
        """How calls reach the model (`judge.llm.transport`)."""
        return self.call.transport

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as settings, prompt and taxonomy (clients and HTTP sessions are rebuilt in the other process)."""
        return (LLMJudge, (self.settings, self.prompt, self.taxonomy))

    def preflight(self) -> None:
        """Raise EndpointConfigError before a run that could not work (see `judge.llm.keys.preflight`)."""
        self.call.preflight()

    def identity(self) -> dict[str, object]:
        """Model, prompt version, taxonomy version and settings: what the judge_id hashes."""
        return self.settings.identity(self.prompt.version, self.taxonomy.version_tag)

    def with_category_order(self, order: list[str], letters: bool = False) -> LLMJudge:
        """The same judge presenting the categories in another order, and with `letters` as A–H in that order
        (a different judge_id either way)."""
        update: dict[str, Any] = {"category_order": list(order), "category_labels": "letters" if letters else "codes"}
        return LLMJudge(self.settings.model_copy(update=update), self.prompt, self.taxonomy)

    def messages(self, item: Item) -> list[dict[str, str]]:
        """The chat messages sent for an item."""
        return self.prompt.render(item, self.taxonomy, self.settings.category_order, self.settings.max_field_chars,
                                  letters=self.letters is not None)

    def _overrides(self, item: Item) -> dict[str, Any]:
        if self.settings.schema_in_response_format:
            # extra_body is merged into the HTTP body last, so it replaces the mode's own response_format
            return {"extra_body": {"response_format": schema_response_format(item.response)}}
        return {}

    def verdict(self, item: Item, out: CallOutcome) -> Verdict:
        """The verdict for `item` from a call's outcome (a category only when the answer validated)."""
        fields: dict[str, Any] = {}
        if out.status == "ok":
            answer: JudgeOutput = to_codes(out.answer, self.letters) if self.letters is not None else out.answer
            fields = dict(category=answer.category, rationale=answer.rationale, evidence=answer.evidence,
                          confidence=answer.confidence,
                          secondary=[c for c in answer.secondary if c != answer.category])
        return Verdict(item_id=item.item_id, judge_id=self.judge_id, model=self.model, source="llm",
                       prompt_version=self.prompt.version, prompt_hash=out.prompt_hash, latency_ms=out.latency_ms,
                       attempts=out.calls, flags=item_flags(item, self.settings.max_field_chars), status=out.status,
                       error=out.error,
                       prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens,
                       cost_usd=out.cost_usd, **fields)

    async def ajudge(self, item: Item) -> Verdict:
        """Judge one item; never raises for model or validation problems (the verdict's status says)."""
        out = await self.call.arun(self.messages(item), {"response": item.response}, **self._overrides(item))
        return self.verdict(item, out)

    def judge(self, item: Item) -> Verdict:
        """Judge one item synchronously (the same call as `ajudge`)."""
        return run_sync(self.ajudge(item))
