"""Losses (rules/losses.py): the real nn loss on real tensors gives the shapes; the counts are
worked out by hand from them. FlopCounterMode has no formula for any loss and counts 0."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import convscope
from convscope.rules import cost_of
from tests.conftest import flop_counter_total

REDUCTIONS = ["none", "mean", "sum"]


def _analyze(loss, x, target):
    report = convscope.analyze(loss, input_data=(x, target))
    assert report.rows[-1].output_shape == list(loss(x, target).shape)
    assert not report.uncounted
    assert report.totals.macs == 0 == flop_counter_total(loss, [x, target])
    return report


def _loss_cost(report) -> int:
    """The loss op's own count: what comes before it (cross-entropy's log_softmax) is not."""
    return sum(cost_of(n).flops for n in report.graph.nodes if "loss" in n.packet
               or "cross_entropy" in n.packet)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("make,weights", [
    (lambda r: nn.MSELoss(reduction=r), 0),
    (lambda r: nn.SmoothL1Loss(reduction=r, beta=0.5), 0),
    (lambda r: nn.HuberLoss(reduction=r, delta=2.0), 0),
    (lambda r: nn.SoftMarginLoss(reduction=r), 0),
    (lambda r: nn.BCELoss(reduction=r), 0),
    (lambda r: nn.BCELoss(torch.rand(5), reduction=r), 1),
    (lambda r: nn.BCEWithLogitsLoss(reduction=r), 0),
    (lambda r: nn.BCEWithLogitsLoss(torch.rand(5), reduction=r, pos_weight=torch.rand(5)), 2),
])
def test_a_pointwise_loss_is_its_formula_its_weights_and_its_reduction_per_element(
        make, weights, reduction):
    x, target = torch.rand(4, 5), torch.rand(4, 5).round()  # probabilities, 0/1 labels
    report = _analyze(make(reduction), x, target)
    # 4 x 5 elements: the formula 1 each, each weight multiplied in 1, the mean or sum 1
    per_element = 1 + weights + (reduction != "none")
    assert report.totals.other_flops == _loss_cost(report) == 4 * 5 * per_element


def test_mse_loss_s_worked_example():
    # (x - y)^2 over [4, 5]: 20; the mean reads them: 20 more (rules/losses.py's docstring)
    assert _analyze(nn.MSELoss(), torch.rand(4, 5), torch.rand(4, 5)).totals.other_flops == 40


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_counts_its_log_softmax_and_one_pick_per_target(reduction, weighted):
    loss = nn.CrossEntropyLoss(torch.rand(5) if weighted else None, reduction=reduction)
    report = _analyze(loss, torch.randn(4, 5), torch.tensor([0, 3, 4, 1]))
    # per target: negate 1, times its class weight 1, summed 1; a weighted mean also sums
    # the weights it divides by, 1 per target
    per_target = 1 + weighted + (reduction != "none") + (weighted and reduction == "mean")
    assert _loss_cost(report) == 4 * per_target
    # log_softmax over [4, 5]: 3 per element
    assert report.totals.other_flops == 3 * 4 * 5 + 4 * per_target


@pytest.mark.parametrize("x,target", [
    (torch.randn(4, 5, 6, 6), torch.zeros(4, 6, 6, dtype=torch.long)),  # nll_loss2d_forward
    (torch.randn(4, 5, 2, 3, 3), torch.zeros(4, 2, 3, 3, dtype=torch.long)),  # reshaped to 2d
    (torch.randn(5), torch.tensor(2)),  # one sample without a batch
])
def test_nll_loss_counts_every_target_position(x, target):
    report = _analyze(nn.NLLLoss(), x, target)
    # unweighted mean: negate and sum, 2 per target element
    assert report.totals.other_flops == 2 * target.numel()


class _PickedNegatedSummed(nn.Module):
    """nll_loss(reduction='sum') as nn.NLLLoss's documentation writes it, l_n = -x[n, y_n], then
    summed: gather (free), neg and sum (1 per target each)."""

    def forward(self, x, target):
        return (-x.gather(1, target[:, None])).sum()


def test_nll_loss_costs_what_its_ops_written_out_cost():
    x, target = torch.randn(4, 5), torch.tensor([0, 3, 4, 1])
    fused = _analyze(nn.NLLLoss(reduction="sum"), x, target)
    written = convscope.analyze(_PickedNegatedSummed(), input_data=(x, target))
    assert fused.totals.other_flops == written.totals.other_flops == 2 * 4


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss_counts_every_class_s_hinge(reduction, weighted):
    loss = nn.MultiMarginLoss(weight=torch.rand(5) if weighted else None, reduction=reduction)
    report = _analyze(loss, torch.randn(4, 5), torch.tensor([0, 3, 4, 1]))
    # per element of [4, 5]: hinge 1, times weight[y] 1, the mean over classes 1; then the
    # batch's mean or sum, 1 per sample
    assert report.totals.other_flops == 4 * 5 * (2 + weighted) + 4 * (reduction != "none")
