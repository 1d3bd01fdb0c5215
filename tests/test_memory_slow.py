"""A long training loop does not grow: peak RSS after 10,000 steps stays within 5 MB of
its level after step 100 (``make test-slow``; a separate process so the suite's own
memory does not count)."""

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import numpy as np
    import minitl as mt
    import minitl.nn.functional as F
    from minitl import nn
    from minitl.optim import SGD

    def peak_rss_kb():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])

    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(64, 128, rng=rng), nn.ReLU(), nn.Linear(128, 10, rng=rng))
    optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = mt.tensor(rng.standard_normal((64, 64)).astype(np.float32))
    y = mt.tensor(rng.integers(0, 10, 64))
    for step in range(1, 10_001):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 100:
            after_100 = peak_rss_kb()
    print(after_100, peak_rss_kb())
""")


@pytest.mark.slow
def test_ten_thousand_steps_keep_peak_rss_flat():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         check=True).stdout.split()
    after_100, at_end = int(out[0]), int(out[1])
    assert at_end - after_100 <= 5 * 1024, f"peak RSS grew by {(at_end - after_100) / 1024:.1f} MB"
