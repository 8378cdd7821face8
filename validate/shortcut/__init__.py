"""The shortcut report: a catalogue of tricks, run into a results store, measured against theory.

- `catalogue`: tricks as data (`TrickEntry`, `Protocol`, `Arm`), the registry, validation.
- `entries_*`: the catalogue's entries, one module per simulator family.
- `run`: planning runs, running them through the sweep runner, measuring each trick from the store.
- `report`: report.md, report.json and the plots.

`shortcut(...)` does all of it (the `python cli.py shortcut` command).
"""

# The catalogue's entries: `validate.shortcut.catalogue.catalogue()` (the function is not re-exported
# here, where its name would hide the submodule `validate.shortcut.catalogue`).
from validate.shortcut.catalogue import (
    Arm, MODES, Protocol, TrickEntry, register, select, validate_catalogue, validate_entry,
)
from validate.shortcut.run import Plan, TrickResult, measure_plan, plan, run_plan, summarise
from validate.shortcut.driver import ShortcutOutcome, prepare, run_prepared, shortcut

__all__ = [
    "Arm", "MODES", "Plan", "Protocol", "ShortcutOutcome", "TrickEntry", "TrickResult", "measure_plan",
    "plan", "prepare", "register", "run_prepared", "run_plan", "select", "shortcut", "summarise", "validate_catalogue", "validate_entry",
]
