from animefy.app.cli import main

raise SystemExit(main())
