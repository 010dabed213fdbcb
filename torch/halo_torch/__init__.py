"""halo_torch: the HALO kit's generator, Diffusion-DPO and Gran-DPO in PyTorch.

One copy of the kit's video DiT (lib/generator/model.ts) and of its post-training losses
(lib/dpo/loss.ts, lib/dpo/loss_maps.ts), its Adam (lib/tensor/adam.ts), its checkpoint format
(lib/tensor/checkpoint.ts) and its pairs file (lib/pairs/file.ts), shared by the bench peers
(torch/generator_peer.py, torch/dpo_peer.py) and the torchrun trainer (halo_torch.train).
The interchange formats are specified in torch/README.md. Needs only Debian's python3-torch.

The folder that holds this package is named `torch/` in the repository; it has no
`__init__.py`, so `import torch` still finds PyTorch itself.
"""

INTERCHANGE_VERSION = 1
