from jrelu._cli import main

raise SystemExit(main())
