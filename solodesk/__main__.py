from solodesk.cli import main

raise SystemExit(main())
