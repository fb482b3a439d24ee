from tracer.exporters.legend import LEGEND, UNLABELLED, legend_entry
from tracer.labels.model import Category


def test_every_label_category_has_a_distinct_entry() -> None:
    for category in Category:
        assert legend_entry(category).role == category
    colours = [entry.colour for entry in LEGEND.values()]
    assert len(colours) == len(set(colours))


def test_unknown_roles_draw_as_unlabelled() -> None:
    assert legend_entry("no-such-role").role == UNLABELLED
    assert legend_entry(None).role == UNLABELLED
