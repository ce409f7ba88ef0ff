"""The stable JSON schema (``convscope.summary/1``), documented in docs/json-schema.md."""
from __future__ import annotations

import json

SCHEMA = "convscope.summary/1"
CONVENTIONS = {
    "macs": "multiply-accumulates of convolutions and matrix products, bias excluded",
    "other_flops": "bias adds, normalisation, pooling, activations and elementwise arithmetic",
    "flops": "2 * macs + other_flops",
    "bytes": "numel * element size of the tensors' dtype",
}


def row_dict(row) -> dict:
    return {
        "name": row.name,
        "type": row.type,
        "depth": row.depth,
        "kind": row.kind,
        "output_shape": row.output_shape,
        "params": row.params,
        "trainable_params": row.trainable_params,
        "shared": row.shared,
        "macs": row.macs,
        "other_flops": row.other_flops,
        "flops": row.flops,
        "output_bytes": row.output_bytes,
        "rf": row.rf.to_dict() if hasattr(row.rf, "to_dict") else row.rf,
        "saved_bytes": row.saved_bytes,
    }


def report_dict(report) -> dict:
    return {
        "schema": SCHEMA,
        "model": report.model_name,
        "input_shapes": report.input_shapes,
        "dtype": report.dtype,
        "train": report.graph.train,
        "rows": [row_dict(r) for r in report.rows],
        "totals": report.totals.to_dict(),
        "uncounted": dict(sorted(report.uncounted.items())),
        "conventions": CONVENTIONS,
    }


def render_json(report) -> str:
    return json.dumps(report_dict(report), indent=2)
