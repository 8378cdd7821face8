"""Errors that mean "the caller's input is wrong" inside the simulators (see theory/errors.py).

`sim/` may not import `theory/`, so it keeps its own class with the same contract: ``field`` names
the option or key, ``problem`` says what is wrong. The CLI turns both into one line and exit 2.
"""


class InputError(ValueError):
    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class DeviceUnavailable(InputError):
    """``--device gpu`` was asked for and no working GPU is there."""
