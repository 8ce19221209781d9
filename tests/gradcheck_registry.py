"""Which ops the tests gradient-check.

A test that runs ``mg.gradcheck`` over an op declares it with ``@covers(OpClass, ...)``;
``test_coverage.py`` imports every test module and fails if some ``mg.Function`` subclass
defined in minigrad is covered by none, so coverage cannot silently drop when an op is added.
"""
COVERED = set()


def covers(*functions):
    def mark(test):
        COVERED.update(functions)
        return test
    return mark
