from kafkaplan.launch import run

run()
