from __future__ import annotations

from pathlib import Path

import pytest

from app.llm.prompts import REQUIRED_PROMPTS, PromptError, load_prompts
from app.settings import PROMPTS_DIR

GOOD = """name = "{name}"
version = "{version}"
variables = ["query", "candidates", "count"]
system = "Rank."
user = "{user}"
[schema]
type = "object"
[schema.properties.ranking]
type = "array"
[schema.properties.ranking.items]
type = "string"
"""


def write(root: Path, name: str, version: str, user: str = "$query $candidates $count") -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / f"{version}.toml").write_text(GOOD.format(name=name, version=version, user=user))


def test_the_committed_prompts_load_and_render() -> None:
    prompts = load_prompts(PROMPTS_DIR)
    assert prompts["rerank"].key == "rerank/v1"
    system, user = prompts["rerank"].render(query="usb cable", candidates="1. {}", count="1")
    assert "usb cable" in user.content
    assert system.role == "system"


def test_the_highest_version_is_active_unless_pinned(tmp_path: Path) -> None:
    for version in ("v1", "v2", "v10"):
        write(tmp_path, "rerank", version)
    for other in REQUIRED_PROMPTS[1:]:
        write(tmp_path, other, "v1")
    assert load_prompts(tmp_path)["rerank"].version == "v10"
    assert load_prompts(tmp_path, {"rerank": "v2"})["rerank"].version == "v2"
    with pytest.raises(PromptError):
        load_prompts(tmp_path, {"rerank": "v3"})


@pytest.mark.parametrize(
    "user",
    ["$query $candidates", "$query $candidates $count $extra", "$query $candidates $count $"],
)
def test_a_template_whose_variables_do_not_match_fails_at_load(tmp_path: Path, user: str) -> None:
    write(tmp_path, "rerank", "v1", user)
    write(tmp_path, "explain", "v1")
    with pytest.raises(PromptError):
        load_prompts(tmp_path)


def test_a_missing_prompt_or_broken_toml_fails_at_load(tmp_path: Path) -> None:
    write(tmp_path, "rerank", "v1")
    with pytest.raises(PromptError, match="explain"):
        load_prompts(tmp_path)
    (tmp_path / "explain").mkdir()
    (tmp_path / "explain" / "v1.toml").write_text("name = [broken")
    with pytest.raises(PromptError):
        load_prompts(tmp_path)


def test_the_schema_constrains_ids_to_the_candidates() -> None:
    prompts = load_prompts(PROMPTS_DIR)
    schema = prompts["rerank"].schema_with_enums({"ranking": ["a", "b"]}, {"ranking": 2})
    assert schema["properties"]["ranking"]["items"]["enum"] == ["a", "b"]
    assert schema["properties"]["ranking"]["maxItems"] == 2
    explain = prompts["explain"].schema_with_enums({"reasons": ["a"]})
    assert explain["properties"]["reasons"]["items"]["properties"]["id"]["enum"] == ["a"]
    assert "enum" not in prompts["rerank"].schema["properties"]["ranking"]["items"]
