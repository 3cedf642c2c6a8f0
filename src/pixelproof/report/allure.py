"""Allure labels and attachments for suite tests (no-ops when allure-pytest is not active).

epic = surface, feature = rule kind, story = rule id; the model and the case are parameters so
each rule x model keeps its own history; the source is a link; failures attach the request and
response excerpt and, for image rules, the returned image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import allure

if TYPE_CHECKING:
    from pixelproof.judging.failures import RuleFailure
    from pixelproof.plan import Case

SEVERITY = {"MUST": allure.severity_level.CRITICAL, "SHOULD": allure.severity_level.NORMAL}
MAX_ATTACHED_IMAGE = 4 * 1024 * 1024


def label_case(case: Case) -> None:
    rule = case.rule
    allure.dynamic.epic(case.surface)
    allure.dynamic.feature(rule.kind)
    allure.dynamic.story(rule.id)
    allure.dynamic.title(case.id)
    allure.dynamic.severity(SEVERITY[rule.severity])
    allure.dynamic.parameter("model", case.model or "*")
    allure.dynamic.parameter("case", case.id)
    allure.dynamic.description(f'{rule.statement}\n\nSource: {rule.cite()}: "{rule.source.quote}"')
    allure.dynamic.link(f"contracts/sources/{rule.source.doc}", name=rule.cite())


def attach_failure(failure: RuleFailure) -> None:
    text = f"expected: {failure.expected}\nobserved: {failure.observed}\n\n{failure.request}\n\n{failure.response}"
    allure.attach(text, name="request and response", attachment_type=allure.attachment_type.TEXT)
    for i, data in enumerate(failure.images[:3]):
        if len(data) <= MAX_ATTACHED_IMAGE:
            from pixelproof.images import sniff

            fmt = sniff(data) or "png"
            mime = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}.get(
                fmt, "image/png"
            )
            allure.attach(data, name=f"returned image {i + 1}", attachment_type=mime, extension=fmt)
