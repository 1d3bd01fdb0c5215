"""A save killed with SIGKILL at a random moment leaves the old or the new checkpoint,
complete and loadable, never a mixture or a broken file.

A child process writes two alternating state dicts to one path in a loop; the
parent kills it after a random delay and loads what is on disk. Run with
``MINITL_KILL_TRIALS=200 pytest tests/test_checkpoint_kill.py`` (``make test-slow``
does) for a thorough run; ``make test`` runs a bounded number of trials.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import minitl as mt

TRIALS = int(os.environ.get("MINITL_KILL_TRIALS", "12"))

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import minitl as mt

    path = sys.argv[1]
    versions = [{"w": np.full((512, 512), float(v), dtype=np.float32),
                 "b": np.full(512, float(v), dtype=np.float32)} for v in (1, 2)]
    mt.save(versions[0], path, metadata={"version": 1})
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        mt.save(versions[i % 2], path, metadata={"version": 1 + i % 2})
""")


def test_sigkill_during_save_leaves_old_or_new_checkpoint(tmp_path):
    rng = np.random.default_rng(20261126)
    path = str(tmp_path / "model.safetensors")
    seen = set()
    for _ in range(TRIALS):
        child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE,
                                 text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(float(rng.uniform(0.0, 0.05)))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        state = mt.load(path)
        version = mt.load_metadata(path)["version"]
        assert set(state) == {"w", "b"}
        assert state["w"].shape == (512, 512) and state["b"].shape == (512,)
        # complete and consistent: every value is the version the metadata names
        assert np.all(state["w"] == version) and np.all(state["b"] == version)
        seen.add(version)
    # leftovers of interrupted saves are hidden temporary files, never the checkpoint
    for name in os.listdir(tmp_path):
        assert name == "model.safetensors" or (name.startswith(".model.safetensors.")
                                               and name.endswith(".tmp"))
    if TRIALS >= 12:
        assert len(seen) == 2, "the kills never landed between two saves; lengthen the delay"


@pytest.mark.slow
def test_sigkill_thorough(tmp_path, monkeypatch):
    """make test-slow: many more kill moments."""
    monkeypatch.setattr(sys.modules[__name__], "TRIALS", 200)
    test_sigkill_during_save_leaves_old_or_new_checkpoint(tmp_path)
