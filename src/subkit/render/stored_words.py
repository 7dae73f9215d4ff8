"""Invoice texts as invoices store them (in English), shown in a document's locale.

Invoices keep their line descriptions and package as the English text they were issued
with: ``Growth (Monthly)``, ``Unused time on Growth (Monthly)``, ``Conversation balance
top-up``. Those shapes are subkit's own words around host names, so a document reads them
back into their parts and says them again in its locale (R-INV-8: no English words on an
Indonesian invoice). A text of any other shape (an add-on's name) is the host's and prints
as written.
"""

from __future__ import annotations

import re

from subkit.labels import document_labels, label

# How subkit wrote them: Plan.label(interval) and the credit and top-up lines built from it.
_INTERVALS = {"Monthly": "monthly", "Annual": "annual"}
_PLAN = re.compile(r"(?P<plan>.+) \((?P<interval>Monthly|Annual)\)")
_CREDIT = re.compile(r"Unused time on (?P<plan>.+) \((?P<interval>Monthly|Annual)\)")
_TOP_UPS = {
    "Conversation balance top-up": "conversation",
    "Broadcast balance top-up": "broadcast",
}


def localise_stored(text: str, locale: str | None) -> str:
    """``text`` (a stored line description or package) in ``locale``'s words.

    >>> localise_stored("Unused time on Growth (Monthly)", "id_ID")
    'Sisa waktu Growth (Bulanan)'
    >>> localise_stored("Conversation balance top-up", "id_ID")
    'Isi ulang saldo percakapan'
    >>> localise_stored("Additional User", "id_ID")
    'Additional User'
    """
    balance = _TOP_UPS.get(text)
    if balance is not None:
        return label(balance, locale, kind="top_up_line")
    for pattern, key in ((_CREDIT, "credit_line"), (_PLAN, "plan_line")):
        match = pattern.fullmatch(text)
        if match is not None:
            interval = label(_INTERVALS[match["interval"]], locale, kind="interval")
            template = document_labels(locale)[key]
            return template.format(plan=match["plan"], interval=interval)
    return text


__all__ = ["localise_stored"]
