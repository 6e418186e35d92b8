"""PyInstaller's script for the frozen SoloDesk: see solodesk.frozen for the three roles."""

from solodesk.frozen import main

raise SystemExit(main())
