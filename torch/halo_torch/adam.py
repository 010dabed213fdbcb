"""The kit's Adam (lib/tensor/adam.ts createAdam) in PyTorch: global-norm gradient clipping
(min(1, c/‖g‖), 0 = off), the bias-corrected step size lr·√(1−β2^k)/(1−β1^k), ε outside the square
root, a missing gradient taken as zero (the weight and its moments stay as they are), and state
keyed by the kit's parameter names (`<name>/m`, `<name>/v`) so a checkpoint resumes exactly on
either side.
"""

import math

import torch


class KitAdam:
    """Adam over `params` (a list of tensors); `names` (same order) key the saved state."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=1.0,
                 names=None):
        self.params = list(params)
        self.names = list(names) if names is not None else [str(i) for i in range(len(params))]
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.lr, self.b1, self.b2, self.eps, self.clip = lr, beta1, beta2, eps, clip_norm
        self.step = 0

    @torch.no_grad()
    def apply(self):
        """One update from the parameters' .grad (cleared after); returns the gradient norm."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        self.step += 1
        norm = torch.stack([g.square().sum() for g in grads]).sum().sqrt().item()
        if self.clip > 0 and norm > self.clip:
            torch._foreach_mul_(grads, self.clip / norm)
        lr = self.lr * math.sqrt(1 - self.b2 ** self.step) / (1 - self.b1 ** self.step)
        torch._foreach_mul_(self.m, self.b1)
        torch._foreach_add_(self.m, grads, alpha=1 - self.b1)
        torch._foreach_mul_(self.v, self.b2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - self.b2)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, denom, value=-lr)
        for p in self.params:
            p.grad = None
        return norm

    def state(self):
        """{`<name>/m`: tensor, `<name>/v`: tensor} (the kit's optimizer.bin names)."""
        out = {}
        for name, m, v in zip(self.names, self.m, self.v):
            out[name + "/m"] = m
            out[name + "/v"] = v
        return out

    @torch.no_grad()
    def load(self, step, tensors):
        """Restores the state saved by `state` (or by the kit's Adam) at optimizer step `step`."""
        want = set(self.state())
        if set(tensors) != want:
            raise ValueError(f"Expected optimizer state for {len(want)} moments of the model's "
                             f"weights but found {len(tensors)} other ones")
        for name, m, v in zip(self.names, self.m, self.v):
            m.copy_(tensors[name + "/m"].to(m.device))
            v.copy_(tensors[name + "/v"].to(v.device))
        self.step = step
