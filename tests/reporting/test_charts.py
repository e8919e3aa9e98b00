"""The SVG charts: titled, labelled, a value on hover for every mark, escaped."""

from reporting import charts


def test_it_draws_bars_with_title_axis_labels_and_hover_values():
    svg = charts.bar_chart(
        "MQL → SQL by channel",
        [charts.Bar("RFQ", 0.5), charts.Bar("Event", 0.05, flagged=True)],
        x_label="MQL → SQL",
        y_label="Source channel",
        fmt=charts.percent,
        band=(0.2, 0.25, "Target band"),
        references=[charts.Reference(0.13, "Industry average")],
    )

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert '<title id="' in svg and ">MQL → SQL by channel</title>" in svg
    assert ">Source channel</text>" in svg and ">MQL → SQL</text>" in svg
    assert "<title>RFQ: 50.0%</title>" in svg and "<title>Event: 5.0%</title>" in svg
    assert "Target band 20.0%\u201325.0%" in svg and "Industry average 13.0%" in svg
    assert "script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_it_escapes_every_label():
    svg = charts.bar_chart("<b>Reasons</b>", [charts.Bar("A & <B>", 3)], x_label="n", y_label="<y>")

    assert "<b>" not in svg and "&lt;b&gt;Reasons&lt;/b&gt;" in svg
    assert "A &amp; &lt;B&gt;" in svg and "&lt;y&gt;" in svg


def test_it_says_no_data_instead_of_drawing_nothing():
    svg = charts.bar_chart("Empty", [charts.Bar("RFQ", None)], x_label="x", y_label="y")

    assert ">no data</text>" in svg and ">Empty</title>" in svg
    assert ">no data</text>" in charts.line_chart("Empty", [], [], x_label="x", y_label="y")


def test_it_draws_lines_with_a_legend_and_breaks_at_missing_values():
    svg = charts.line_chart(
        "Within SLA",
        ["02 Mar", "09 Mar", "16 Mar"],
        [
            charts.Series("Decisions", [0.5, None, 1.0]),
            charts.Series("First touches", [1.0, 1.0, 1.0]),
        ],
        x_label="Week",
        y_label="Within SLA",
        fmt=charts.percent,
        references=[charts.Reference(0.9, "Target")],
    )

    assert "<title>02 Mar · Decisions: 50.0%</title>" in svg
    assert "<title>16 Mar · First touches: 100.0%</title>" in svg
    assert svg.count("<circle") == 5  # the missing week has no point
    decisions_path = svg.split('<path d="')[1].split('"')[0]
    assert decisions_path.count("M") == 2  # the line breaks at the gap
    assert ">Decisions</text>" in svg and "Target 90.0%" in svg
    assert ">Week</text>" in svg and ">Within SLA</text>" in svg


def test_gridlines_of_counts_are_whole_numbers_and_of_rates_round_steps():
    """Three breaches at most in a week: the axis reads 0, 1, 2, 3, not 1.2 or 3.8."""
    import re

    def axis(svg: str) -> list[str]:
        return re.findall(r'text-anchor="end" font-size="11" fill="[^"]+">([^<]+)</text>', svg)

    weeks = ["02 Mar", "09 Mar", "16 Mar"]
    counts = charts.line_chart(
        "Breaches", weeks, [charts.Series("Decision", [0, 3, 1])], x_label="Week", y_label="n"
    )
    rates = charts.line_chart(
        "Within SLA",
        weeks,
        [charts.Series("Decision", [0.5, 0.9, 0.75])],
        x_label="Week",
        y_label="Within SLA",
        fmt=charts.percent,
    )

    steps = [int(label) for label in axis(counts)]  # whole numbers, or this fails
    assert steps == list(range(len(steps))) and steps[-1] >= 3
    assert axis(rates) == ["0.0%", "20.0%", "40.0%", "60.0%", "80.0%", "100.0%"]


def test_a_share_axis_ends_at_100_percent_even_when_a_bar_reaches_it():
    svg = charts.bar_chart(
        "Reject rate",
        [charts.Bar("Max", 1.0), charts.Bar("Rita", 0.1)],
        x_label="rate",
        y_label="Rep",
        fmt=charts.percent,
    )

    assert ">100.0%</text>" in svg and "150.0%" not in svg and "200.0%" not in svg


def test_it_draws_a_heat_map_with_the_value_in_every_cell():
    svg = charts.heat_map(
        "Rejections by reason and channel",
        ["Duplicate", "Other"],
        ["RFQ", "Webinar"],
        [
            [
                charts.Cell(1.0, "3", "Duplicate · RFQ: 3"),
                charts.Cell(0.0, "0", "Duplicate · Webinar: 0"),
            ],
            [
                charts.Cell(None, "—", "Other · RFQ: no data"),
                charts.Cell(0.5, "1", "Other · Webinar: 1"),
            ],
        ],
        x_label="Source channel",
        y_label="Reason",
    )

    assert "<title>Duplicate · RFQ: 3</title>" in svg
    assert 'fill="#0b57d0"' in svg  # the darkest cell
    assert ">Source channel</text>" in svg and ">Reason</text>" in svg
