"""A job's `options` against a model's published settings: one rule for every worker that takes
numeric options from a table."""

from .job import JobFailed


def settings(options, published, ranges, family):
    """`published` with the job's `options` over it. `ranges` is {name: (parse, low, high)}, the
    options a job may set; an unknown name or a value off its range fails the job, naming it.
    `model` is the pipeline file's own (its checkpoint), never a job's."""
    chosen = dict(published)
    unknown = sorted(set(options) - set(ranges) - {"model"})
    if unknown:
        raise JobFailed(f"unknown option {', '.join(unknown)}; the {family} worker takes {', '.join(ranges)}")
    for name, (parse, low, high) in ranges.items():
        if name not in options:
            continue
        try:
            value = parse(options[name])
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise JobFailed(f"bad option value {name}={options[name]!r}: {low}…{high}")
        chosen[name] = value
    return chosen
