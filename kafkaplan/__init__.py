"""kafkaplan: Terraform-style plan and apply for Apache Kafka, from YAML specs in git."""

import logging

__version__ = "0.1.0"

# Library code logs; only the CLI decides whether anything is shown.
logging.getLogger("kafkaplan").addHandler(logging.NullHandler())
