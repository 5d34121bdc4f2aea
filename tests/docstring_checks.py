"""Shared docstring checks: the Google-style sections are there and the `Example:`s run."""

import doctest
import inspect

SECTIONS = ("Args:", "Call arguments:", "Returns:", "Example:")


def assert_sections(obj, sections=SECTIONS):
    """Asserts that `obj`'s docstring has every heading of `sections`."""
    doc = inspect.getdoc(obj) or ""
    for section in sections:
        assert section in doc, f"{getattr(obj, '__name__', obj)} docstring lacks {section}"


def assert_examples_run(obj, module=None, min_tests=1):
    """Runs the doctests of `obj` (a class, function or module); asserts none fails.

    Args:
        obj: what to collect the examples from.
        module: the module whose globals the examples see (default: `obj` itself, a module).
        min_tests: at least this many docstrings with examples must be found.
    """
    module = module if module is not None else obj
    tests = [t for t in doctest.DocTestFinder().find(obj, module=module, globs=vars(module))
             if t.examples]
    name = getattr(obj, "__name__", obj)
    assert len(tests) >= min_tests, f"{name}: {len(tests)} docstrings with examples, " \
                                    f"expected at least {min_tests}"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    assert runner.failures == 0, f"{name} example failed (see output above)"
