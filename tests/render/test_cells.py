"""The Params cell marks frozen parameters on every row that holds some, folded rows included."""
from __future__ import annotations

import torch
from torch import nn

import convscope
from convscope.render.cells import params_cell


class PartlyFrozen(nn.Module):
    """features.0 frozen (3*8*9 + 8 = 224), features.3's bias alone frozen (16 of 8*16*9 + 16)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3))
        self.head = nn.Linear(16, 4)
        self.features[0].requires_grad_(False)
        self.features[3].bias.requires_grad_(False)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def test_params_cell_marks_wholly_and_partly_frozen_rows():
    model = PartlyFrozen()
    cells = {r.name: params_cell(r) for r in convscope.analyze(model, (3, 16, 16)).rows}
    assert cells == {"features.0": "224 (frozen)", "features.1": "16", "features.2": "-",
                     "features.3": "1,168 (16 frozen)", "mean": "-", "head": "68"}


def test_a_folded_row_marks_the_frozen_parameters_it_holds_in_every_renderer():
    report = convscope.analyze(PartlyFrozen(), (3, 16, 16), depth=1)
    features = report.rows[0]
    # 224 + 16 + 1,168 = 1,408 parameters, of which 224 + 16 frozen
    assert (features.name, features.params, features.trainable_params) == ("features", 1408, 1168)
    assert params_cell(features) == "1,408 (240 frozen)"
    assert "| features | Sequential | [1, 16, 12, 12] | 1,408 (240 frozen) |" in (
        report.to_markdown())
    assert "1,408 (240 frozen)" in str(report) and "1,408 (240 frozen)" in report._repr_html_()


def test_csv_carries_the_json_values_of_every_row_several_outputs_and_saved_bytes_too():
    import csv
    import io

    from torch.nn import functional as F

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 3, padding=1)

        def forward(self, x):  # F.max_pool2d runs aten.max_pool2d_with_indices: two outputs
            return F.max_pool2d(self.conv(x), 2).flatten(1)

    for memory in (False, True):
        report = convscope.analyze(Pooled(), (1, 28, 28), memory=memory)
        lines = list(csv.DictReader(io.StringIO(report.to_csv())))
        rows = report.to_dict()["rows"]
        assert len(lines) == len(rows)
        for line, row in zip(lines, rows):
            for key, text in line.items():
                if key == "uncounted":  # the JSON's is the model's, under "uncounted"
                    assert text == ""
                    continue
                value = row[key]
                if key == "output_shape":
                    shapes = value if isinstance(value[0], list) else [value]
                    assert text == "; ".join(" ".join(map(str, s)) for s in shapes)
                else:
                    assert text == ("" if value is None else str(value)), (key, text, value)
        pool = lines[1]
        assert pool["type"] == "aten.max_pool2d_with_indices"
        assert pool["output_shape"] == "1 8 14 14; 1 8 14 14"
        assert (pool["saved_bytes"] != "") is memory


def test_human_units_never_print_a_thousand_of_a_unit():
    from convscope.render import units

    # 999,999 / 1000 = 999.999 rounds to 1,000.00 K: it is 1.00 M; 999,994 stays 999.99 K
    assert [units.count(v) for v in (999, 1000, 999_994, 999_999, 999_994_999, 999_999_999)] == [
        "999", "1.00 K", "999.99 K", "1.00 M", "999.99 M", "1.00 G"]
    # 2**20 - 1 bytes = 1,023.999 KiB rounds to 1,024.00 KiB: it is 1.00 MiB
    assert [units.nbytes(v) for v in (1023, 2**20 - 1, 2**20 - 6, 2**30 - 1)] == [
        "1,023 B", "1.00 MiB", "1,023.99 KiB", "1.00 GiB"]


class _CumSum(nn.Module):
    """torch.cumsum, an op without a cost rule (docs/how-to-add-an-op-rule.md's example)."""

    def forward(self, x):
        return torch.cumsum(x, dim=1)


def test_csv_names_each_rows_ops_that_are_not_counted():
    # the table, markdown and JSON list them; a CSV row of 0 FLOPs said nothing
    model = nn.Sequential(nn.Conv2d(3, 4, 3), _CumSum())
    lines = convscope.analyze(model, (3, 16, 16)).to_csv().splitlines()
    assert lines[0].endswith(",saved_bytes,uncounted")
    assert lines[1].endswith(",3136,,") and lines[2] == (
        "1,_CumSum,1,1 4 14 14,0,0,0,0,0,3136,,aten.cumsum.default x1")


class _Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(1000, 10)

    def forward(self, x):
        return self.conv(x)


def test_parameters_no_op_reads_are_named_under_the_totals():
    # Total params said 10,122 under one row of 112, with no word on the other 10,010
    from convscope.render.cells import total_lines

    lines = dict(total_lines(convscope.analyze(_Unused(), (3, 8, 8))))
    assert lines["Total params"].startswith("10,122")
    assert lines["Unused params"] == "10,010 of fc: in Total params, read by no op of this forward"
    from convscope import zoo

    inception = dict(total_lines(convscope.analyze(zoo.create("inception_v3"), (3, 299, 299))))
    assert inception["Unused params"].startswith("3,326,696 of AuxLogits:")  # eval: no aux head
    assert "Unused params" not in dict(total_lines(convscope.analyze(nn.Conv2d(3, 4, 3),
                                                                     (3, 8, 8))))
