"""The generated documentation matches the code."""

from __future__ import annotations

from kafkaplan.spec.topic_configs import TOPIC_CONFIGS
from tools import docgen


def test_generated_docs_are_up_to_date() -> None:
    assert docgen.main(["--check"]) == 0, "run: python -m tools.docgen"


def test_reference_documents_every_topic_config() -> None:
    text = docgen.reference()
    for name in TOPIC_CONFIGS:
        assert f"| `{name}` |" in text
