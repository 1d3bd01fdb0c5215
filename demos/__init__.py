"""Demo scripts: ``python -m demos.parity``, ``python -m demos.animals_digits``, quickstart.

Importing this package pins the BLAS libraries to one thread (unless the environment
already says otherwise). It has to happen before NumPy is first imported, which is the
case for ``python -m demos.<name>``: the package is imported before the module runs.
The experiments run their seeds in parallel processes, and two BLAS threads per process
on a 2-core machine slow every step down many times over (measured on this machine class).
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
