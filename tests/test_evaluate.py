import io
import json
import random
import re

import numpy as np
import pytest
from rich.console import Console
from rich.padding import Padding

from dancestyle.errors import InputError
from dancestyle.evaluate import compute_metrics, confusion_matrix
from dancestyle.render import confused_pairs_table, confusion_heatmap, metrics_table

# A 3-class example worked out by hand (rows: true, columns: predicted).
#
#               foxtrot  tango  waltz | support
#   foxtrot        4       2      0   |   6
#   tango          0       3      3   |   6
#   waltz          1       0      2   |   3
#   predicted      5       5      5   |  15
#
#   foxtrot: P = 4/5 = 0.8, R = 4/6 = 2/3, F1 = 2·0.8·(2/3) / (0.8 + 2/3) = 8/11 ≈ 0.7273
#   tango:   P = 3/5 = 0.6, R = 3/6 = 0.5, F1 = 2·0.6·0.5 / 1.1            = 6/11 ≈ 0.5455
#   waltz:   P = 2/5 = 0.4, R = 2/3,       F1 = 2·0.4·(2/3) / (0.4 + 2/3) = 1/2
#   accuracy = (4 + 3 + 2) / 15 = 0.6
#   macro-F1 = (8/11 + 6/11 + 1/2) / 3 = 13/22 ≈ 0.5909
CLASSES = ["foxtrot", "tango", "waltz"]
MATRIX = [[4, 2, 0], [0, 3, 3], [1, 0, 2]]


def labels_from(matrix, seed=0):
    """True and predicted ids that produce `matrix`, in shuffled order."""
    pairs = [(i, j) for i, row in enumerate(matrix) for j, count in enumerate(row) for _ in range(count)]
    random.Random(seed).shuffle(pairs)
    return [i for i, _ in pairs], [j for _, j in pairs]


@pytest.fixture
def hand():
    return compute_metrics(*labels_from(MATRIX), CLASSES)


@pytest.fixture
def render(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)  # rich would drop every colour code

    def _render(table) -> tuple[str, str]:
        console = Console(file=io.StringIO(), width=200, color_system="truecolor")
        console.print(table)
        ansi = console.file.getvalue()
        return ansi, re.sub(r"\x1b\[[0-9;]*m", "", ansi)

    return _render


def test_confusion_matrix_rows_are_true_and_columns_predicted():
    matrix = confusion_matrix([0, 0, 1, 2], [1, 1, 1, 0], 3)
    assert matrix.tolist() == [[0, 2, 0], [0, 1, 0], [1, 0, 0]]
    assert np.issubdtype(matrix.dtype, np.integer)
    assert confusion_matrix(*labels_from(MATRIX), 3).tolist() == MATRIX


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="2 true labels but 3"):
        confusion_matrix([0, 1], [0, 1, 1], 2)
    with pytest.raises(ValueError, match="outside 0..1"):
        confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(ValueError, match="integer"):
        confusion_matrix([0.0, 1.5], [0, 1], 2)
    with pytest.raises(InputError, match="no clips"):
        compute_metrics([], [], CLASSES)


def test_metrics_match_the_hand_computed_example(hand):
    expected = {"foxtrot": (0.8, 2 / 3, 8 / 11, 6), "tango": (0.6, 0.5, 6 / 11, 6), "waltz": (0.4, 2 / 3, 0.5, 3)}
    for style, (precision, recall, f1, support) in expected.items():
        scores = hand.per_class[style]
        assert scores["precision"] == pytest.approx(precision)
        assert scores["recall"] == pytest.approx(recall)
        assert scores["f1"] == pytest.approx(f1)
        assert scores["support"] == support
    assert hand.accuracy == pytest.approx(0.6)
    assert hand.macro_f1 == pytest.approx(13 / 22)
    assert hand.confusion == MATRIX and hand.classes == CLASSES


def test_a_class_never_predicted_scores_zero_and_counts_in_the_mean():
    metrics = compute_metrics([0, 1, 2, 2], [0, 1, 1, 1], ["a", "b", "c"])
    assert metrics.per_class["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert metrics.per_class["b"]["precision"] == pytest.approx(1 / 3)
    assert metrics.per_class["b"]["f1"] == pytest.approx(0.5)
    assert metrics.macro_f1 == pytest.approx((1 + 0.5 + 0) / 3)


def test_a_class_without_support_counts_only_if_predicted():
    # c: predicted once, never true -> P = R = F1 = 0, in the mean; d: in neither -> left out of the mean
    metrics = compute_metrics([0, 0, 1], [0, 2, 1], ["a", "b", "c", "d"])
    assert metrics.per_class["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert metrics.per_class["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert metrics.evaluated == ["a", "b", "c"]
    assert metrics.macro_f1 == pytest.approx((2 / 3 + 1 + 0) / 3)  # (2/3 + 1 + 0 + 0) / 4 if d counted
    assert all(np.isfinite(v) for scores in metrics.per_class.values() for v in scores.values())


def test_perfect_predictions_score_one(render):
    true = [0, 1, 2, 2, 1, 0, 2]
    metrics = compute_metrics(true, true, CLASSES)
    assert metrics.accuracy == 1.0 and metrics.macro_f1 == 1.0
    assert all(scores["precision"] == scores["recall"] == scores["f1"] == 1.0
               for scores in metrics.per_class.values())
    assert metrics.most_confused() == []
    assert "no mistakes" in render(confused_pairs_table(metrics))[1]


def test_most_confused_is_largest_first_then_class_order():
    matrix = [[9, 2, 1, 0],
              [2, 9, 2, 0],
              [3, 0, 9, 0],
              [0, 0, 0, 9]]
    metrics = compute_metrics(*labels_from(matrix), ["a", "b", "c", "d"])
    assert metrics.most_confused(k=10) == [("c", "a", 3), ("a", "b", 2), ("b", "a", 2), ("b", "c", 2),
                                           ("a", "c", 1)]  # no diagonal, no zeros
    assert metrics.most_confused(k=2) == [("c", "a", 3), ("a", "b", 2)]
    assert len(metrics.most_confused()) == 5


def test_to_json_has_exactly_the_documented_keys_and_plain_numbers(hand):
    record = hand.to_json(split="test", clips=15)
    assert set(record) == {"accuracy", "macro_f1", "per_class", "confusion", "classes", "split", "clips"}
    assert record["accuracy"] == 0.6 and record["macro_f1"] == 0.5909  # rounded to 4 decimals
    assert record["per_class"]["foxtrot"] == {"precision": 0.8, "recall": 0.6667, "f1": 0.7273, "support": 6}
    assert record["confusion"] == MATRIX and record["classes"] == CLASSES
    assert (record["split"], record["clips"]) == ("test", 15)
    assert type(record["accuracy"]) is float and type(record["per_class"]["tango"]["support"]) is int
    assert all(type(count) is int for row in record["confusion"] for count in row)
    assert json.loads(json.dumps(record)) == record
    assert compute_metrics([0, 1, 2], [0, 1, 1], CLASSES).to_json("val", 3)["accuracy"] == 0.6667


def test_metrics_table_lists_every_class_and_the_summary(hand, render):
    text = render(metrics_table(hand))[1]
    for style in CLASSES:
        assert style in text
    assert re.search(r"foxtrot\s+│\s+0\.800\s+│\s+0\.667\s+│\s+0\.727\s+│\s+6", text)
    assert re.search(r"macro\s+│.*│\s+0\.591\s+│\s+15", text)
    assert re.search(r"accuracy\s+│.*│\s+0\.600\s+│\s+15", text)


def test_metrics_table_dims_classes_left_out_of_the_mean(render):
    metrics = compute_metrics([0, 0, 1], [0, 2, 1], ["a", "b", "c", "d"])
    ansi, text = render(metrics_table(metrics))
    assert "left out of the macro" in " ".join(text.split())  # the caption, however it wraps
    row = {plain.split("│")[1].strip(): line for plain, line in zip(text.splitlines(), ansi.splitlines())
           if plain.startswith("│")}
    assert "\x1b[2m" in row["d"] and "\x1b[2m" not in row["c"]  # d is in neither truth nor predictions
    assert "left out" not in render(metrics_table(compute_metrics([0, 1], [0, 1], ["a", "b"])))[1]


def shades(table):
    """{(row, column): Style} of the shaded cells of a heatmap; columns counted from the first class."""
    columns = table.columns[1:-1]  # first: row names, last: totals
    return {(i, j): cell.style for j, column in enumerate(columns) for i, cell in enumerate(column.cells)
            if isinstance(cell, Padding) and cell.style}


def test_heatmap_shows_names_counts_and_blank_zeros(hand, render):
    table = confusion_heatmap(hand)
    text = render(table)[1]
    for style in CLASSES:
        assert re.search(rf"│ {style}\s+│", text)  # full names as row headers
    header = next(line for line in text.splitlines() if "true\\pred" in line)
    assert re.findall(r"\w+", header)[2:] == ["fox", "tan", "wal", "all"]  # short column headers
    rows = [line for line in text.splitlines() if line.startswith("│")]
    numbers = [[cell.strip() for cell in row.strip("│").split("│")[1:]] for row in rows]
    assert numbers == [["4", "2", "", "6"], ["", "3", "3", "6"], ["1", "", "2", "3"]]
    assert set(shades(table)) == {(i, j) for i, row in enumerate(MATRIX) for j, c in enumerate(row) if c}


def test_the_heatmap_of_the_ten_styles_fits_80_columns_with_every_header_readable():
    """Issue 28: at 80 columns the headers of tango and total both collapsed to "t…"."""
    styles = ["ballet", "break", "flamenco", "foxtrot", "latin", "quickstep", "square", "swing", "tango", "waltz"]
    metrics = compute_metrics(list(range(10)) * 25, list(range(10)) * 25, styles)
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(confusion_heatmap(metrics))
    text = console.export_text()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    assert ["bal", "bre", "fla", "fox", "lat", "qui", "squ", "swi", "tan", "wal", "all"] == re.findall(
        r"\w+", next(line for line in text.splitlines() if "true\\pred" in line))[2:]


def test_heatmap_shades_the_diagonal_green_and_mistakes_red_by_share_of_row(hand, render):
    table = confusion_heatmap(hand)
    styles = shades(table)
    rgb = {cell: style.bgcolor.get_truecolor() for cell, style in styles.items()}
    for (i, j), (red, green, _) in rgb.items():
        assert (green > red) if i == j else (red > green), (i, j)
    # the shade follows the share of the row, not the count
    assert rgb[(0, 0)] == rgb[(2, 2)]  # 4 of 6 and 2 of 3
    assert rgb[(0, 1)] == rgb[(2, 0)]  # 2 of 6 and 1 of 3
    assert sum(rgb[(1, 1)]) > sum(rgb[(0, 0)])  # 3 of 6 lighter than 4 of 6
    assert sum(rgb[(1, 2)]) < sum(rgb[(0, 1)])  # 3 of 6 darker than 2 of 6
    ansi = render(table)[0]
    diagonal, mistake = rgb[(0, 0)], rgb[(0, 1)]
    assert diagonal != mistake
    assert "48;2;{};{};{}".format(*diagonal) in ansi and "48;2;{};{};{}".format(*mistake) in ansi
    for style in styles.values():
        assert contrast(style.color.get_truecolor(), style.bgcolor.get_truecolor()) >= 4.5


def contrast(first, second):
    """WCAG contrast ratio of two sRGB colours, 1 to 21."""
    def luminance(rgb):
        r, g, b = (c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_shade_keeps_its_count_readable():
    # rows of 100 clips sweep the share from 1% to 100% on both scales; WCAG AA asks for 4.5:1
    for count in range(1, 101):
        matrix = [[count, 100 - count], [100 - count, count]]
        table = confusion_heatmap(compute_metrics(*labels_from(matrix), ["a", "b"]))
        for style in shades(table).values():
            assert contrast(style.color.get_truecolor(), style.bgcolor.get_truecolor()) >= 4.5, count


def test_confused_pairs_table_lists_the_top_mistakes(hand, render):
    text = render(confused_pairs_table(hand, k=2))[1]
    assert re.search(r"tango\s+│\s+waltz\s+│\s+3\s+│\s+50%", text)
    assert re.search(r"foxtrot\s+│\s+tango\s+│\s+2\s+│\s+33%", text)
    assert len([line for line in text.splitlines() if line.startswith("│")]) == 2  # waltz -> foxtrot cut by k


def test_evaluate_without_a_run_names_its_own_ways_forward(isolated_home, monkeypatch):
    """Issue 28: `evaluate` with no run suggested --random-weights, which it does not take, and did not say that a
    run trained with --out elsewhere must be named."""
    from dancestyle.errors import WeightsError
    from dancestyle.evaluate import evaluate_run

    monkeypatch.setattr("dancestyle.published.PUBLISHED", {})
    with pytest.raises(WeightsError) as raised:
        evaluate_run(None, "tcn", None, "test")
    assert "--random-weights" not in raised.value.hint and "--out" in raised.value.hint
    assert "dancestyle train --model tcn" in raised.value.hint
