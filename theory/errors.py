"""Errors that mean "the caller's input is wrong", as opposed to a bug.

The CLI turns these into one line on stderr naming the field and the problem, and exit code 2.
"""


class InputError(ValueError):
    """Bad user input: ``field`` names the option, argument or key; ``problem`` says what is wrong."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")
