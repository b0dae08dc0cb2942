"""The clusters benchmark's command line: unusable arguments stop it before a model loads."""

from __future__ import annotations

import pytest

from benchmarks import clusters


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ray-address", "auto"], "--ray-address goes with --backend ray"),
        (["--backend", "dask"], "invalid choice: 'dask'"),
        (["--layers", "5", "2"], "--layers must be distinct, increasing"),
    ],
)
def test_bad_arguments_stop_the_benchmark_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        clusters.main(["--quick", *argv])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
