"""Secrets read from the environment are masked in every log line, library ones included."""

from __future__ import annotations

import logging

import pytest

from kafkaplan.errors import ProjectError
from kafkaplan.secrets import MASK, Redactor, read_secret


def test_secrets_read_are_masked_in_any_log_record(caplog: pytest.LogCaptureFixture) -> None:
    secret = read_secret("KP_TEST_SECRET", {"KP_TEST_SECRET": "s3cr3t-value-42"}, "password")
    assert secret == "s3cr3t-value-42"
    caplog.handler.addFilter(Redactor())
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("kafka.admin.client").debug("config: %r", {"sasl_plain_password": secret})
    assert "s3cr3t-value-42" not in caplog.text
    assert MASK in caplog.text


def test_missing_secret_names_the_variable() -> None:
    with pytest.raises(ProjectError, match="environment variable KP_NOPE, which is not set"):
        read_secret("KP_NOPE", {}, "SASL password")
