#!/usr/bin/python3
"""Entry point of the Gran-DPO trainer (halo_torch.train) for torchrun and for one process:

    python3 -m torch.distributed.run --nproc_per_node=2 torch/train.py --pairs P --generator G --out O
    python3 torch/train.py --pairs P --generator G --out O

A script rather than `-m halo_torch.train` so that no PYTHONPATH is needed: its folder (torch/)
is on sys.path, and it holds the halo_torch package. Options: `torch/train.py --help`.
"""

import sys

from halo_torch.train import main

if __name__ == "__main__":
    sys.exit(main())
