from kafkaplan.cli import run

run()
