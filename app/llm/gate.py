"""The eval gate behind `"rerank": "auto"`: use the LLM only where a committed eval run measured
that this prompt version and model beat the vector ranking.

The file (`evals/llm-gate.json` by default) is written by the offline eval runner:
`{"entries": [{"prompt": "rerank/v1", "model": "...", "metric": "ndcg@10",
"llm": 0.61, "vector": 0.58, "wins": true, "run": "..."}]}`. No file, or no winning entry, means
"auto" keeps the vector ranking.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class GateError(ValueError):
    """The gate file exists but cannot be read: fail start-up rather than guess."""


@dataclass(frozen=True, slots=True)
class EvalGate:
    winners: frozenset[tuple[str, str]] = frozenset()

    def allows(self, prompt_key: str, model: str) -> bool:
        return (prompt_key, model) in self.winners

    @classmethod
    def load(cls, path: Path | None) -> EvalGate:
        if path is None or not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
            entries = data["entries"]
            winners = frozenset((str(e["prompt"]), str(e["model"])) for e in entries if e.get("wins") is True)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise GateError(f"cannot read the eval gate {path}: {e}") from e
        return cls(winners)
