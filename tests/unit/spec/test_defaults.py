"""The list fields' default: a new list for every instance."""

from __future__ import annotations

from kafkaplan.spec.defaults import new_list
from kafkaplan.spec.models import SpecFile


def test_every_instance_gets_a_list_of_its_own() -> None:
    first, second = SpecFile.model_validate({}), SpecFile.model_validate({})
    assert first.topics == second.topics == []
    first.topics.append(second)  # type: ignore[arg-type]  # any object shows the sharing
    assert second.topics == []
    assert new_list() is not new_list()
