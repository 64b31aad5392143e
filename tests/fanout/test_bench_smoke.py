"""The fan-out benchmark runs end to end and prints one JSON object with its figures."""

from __future__ import annotations

import json

import pytest

from benchmarks.fanout import main


def test_bench_fanout_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--recipients", "2000", "--chunk", "500"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["recipients"] == 2000
    assert result["delivered"] == 2000
    assert result["pushed"] == 100
    assert result["seconds"] > 0
    assert result["recipients_per_s"] > 0
    assert result["redis_pipelined_ops_per_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["recipients_per_s"] / result["redis_pipelined_ops_per_s"], rel=0.01
    )
