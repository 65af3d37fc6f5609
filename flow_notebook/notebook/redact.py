"""Masking secret values in text shown to the user."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

MASK = "****"
_ALWAYS_SECRET_ENV = ("MITHRIL_API_KEY",)


class Redactor:
    """Replaces every occurrence of known secret values with ``****``.

    Args:
        values: The secret values; empty ones are ignored.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        unique = sorted({value for value in values if value}, key=len, reverse=True)
        # Longest first, so a secret containing another is masked whole.
        self._pattern = re.compile("|".join(re.escape(v) for v in unique)) if unique else None

    def __call__(self, text: str) -> str:
        """Returns ``text`` with every secret value masked."""
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def __repr__(self) -> str:
        return "Redactor(<hidden>)"


def redactor_for(
    secret_names: Iterable[str],
    known: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Redactor:
    """Returns a redactor for ``known`` values plus the named variables' current values.

    Args:
        secret_names: Environment variable names whose values are secret.
        known: Secret values already in hand (e.g. typed at a prompt).
        environ: Where names are looked up; defaults to ``os.environ``.

    Returns:
        A redactor that also masks the Mithril API key when it is set.
    """
    env = os.environ if environ is None else environ
    names = [*secret_names, *_ALWAYS_SECRET_ENV]
    return Redactor([*known, *(env.get(name, "") for name in names)])
