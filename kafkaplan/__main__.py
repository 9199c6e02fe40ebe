from kafkaplan.cli import main

raise SystemExit(main())
