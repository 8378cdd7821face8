"""The shortcut report: a catalogue of tricks, run into a results store, measured against theory.

- `catalogue`: tricks as data (`TrickEntry`, `Protocol`, `Arm`), the registry, validation.
- `entries_*`: the catalogue's entries, one module per simulator family.
- `run`: planning runs, running them through the sweep runner, measuring each trick from the store.
- `report`: report.md, report.json and the plots.

`shortcut(...)` does all of it (the `python cli.py shortcut` command).
"""

from validate.shortcut.catalogue import (
    Arm, MODES, Protocol, TrickEntry, catalogue, register, select, validate_catalogue, validate_entry,
)
from validate.shortcut.run import Plan, TrickResult, measure_plan, plan, run_plan, summarise
from validate.shortcut.driver import ShortcutOutcome, shortcut

__all__ = [
    "Arm", "MODES", "Plan", "Protocol", "ShortcutOutcome", "TrickEntry", "TrickResult", "catalogue", "measure_plan",
    "plan", "register", "run_plan", "select", "shortcut", "summarise", "validate_catalogue", "validate_entry",
]
