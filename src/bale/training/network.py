"""The torch twin of :class:`bale.models.conditional.ConditionalNetwork`, used for training only."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["TorchConditional"]


class TorchConditional(nn.Module):
    """Encoder to a latent, plus masked MLP heads per target (batched as one einsum).

    The families of docs/models.md are options of this one network: ``skip`` adds the
    first hidden layer to the second (a residual connection), ``ensemble`` trains that many
    heads per target and averages them, ``variational`` makes the encoder give a mean and a
    log-variance (the mean is what is stored). Which columns a head sees is ``available``:
    the conditional family sees the columns decoded before it, Baler's autoencoders none.
    """

    mask: torch.Tensor  # a buffer: which inputs each head sees

    def __init__(
        self,
        n_context: int,
        available: list[list[int]],
        latent_dim: int,
        hidden: int,
        *,
        skip: bool = False,
        ensemble: int = 1,
        variational: bool = False,
    ) -> None:
        super().__init__()
        j, k, c, h = len(available) * ensemble, latent_dim, n_context, hidden
        self.latent_dim, self.skip, self.ensemble, self.variational = k, skip, ensemble, variational
        self.targets = len(available)
        if k:
            self.enc1 = nn.Linear(c, h)
            self.enc2 = nn.Linear(h, 2 * k if variational else k)
        mask = torch.zeros(j, 1, k + c)
        mask[:, :, :k] = 1.0
        for t, cols in enumerate(available):
            for m in range(ensemble):
                mask[t * ensemble + m, 0, [k + i for i in cols]] = 1.0
        self.register_buffer("mask", mask)
        scale1 = 1.0 / np.sqrt(k + c)
        scale2 = 1.0 / np.sqrt(h)
        self.w1 = nn.Parameter(torch.empty(j, h, k + c).uniform_(-scale1, scale1))
        self.b1 = nn.Parameter(torch.zeros(j, h))
        self.w2 = nn.Parameter(torch.empty(j, h, h).uniform_(-scale2, scale2))
        self.b2 = nn.Parameter(torch.zeros(j, h))
        self.w3 = nn.Parameter(torch.empty(j, h).uniform_(-scale2, scale2))
        self.b3 = nn.Parameter(torch.zeros(j))
        self.last_hidden: torch.Tensor | None = None  # first hidden layer of the last call (sparsity penalty)

    def encode_stats(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mean, log-variance or None) of the latent."""
        out = self.enc2(torch.relu(self.enc1(features)))
        if self.variational:
            return out[:, : self.latent_dim], out[:, self.latent_dim :]
        return out, None

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        return self.encode_stats(features)[0]

    def forward(self, features: torch.Tensor, latent: torch.Tensor | None) -> torch.Tensor:
        return self.heads(features, latent)

    def heads(self, features: torch.Tensor, latent: torch.Tensor | None) -> torch.Tensor:
        inputs = features if latent is None else torch.cat([latent, features], dim=1)
        hidden = torch.relu(torch.einsum("nc,jhc->njh", inputs, self.w1 * self.mask) + self.b1)
        self.last_hidden = hidden
        second = torch.relu(torch.einsum("njh,jgh->njg", hidden, self.w2) + self.b2)
        if self.skip:
            second = second + hidden
        out = torch.einsum("njh,jh->nj", second, self.w3) + self.b3
        if self.ensemble > 1:
            out = out.reshape(out.shape[0], self.targets, self.ensemble).mean(dim=2)
        return out

    def export(self) -> dict[str, np.ndarray]:
        """Float weights keyed as :meth:`ConditionalNetwork.set_float_weights` expects."""

        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().to(torch.float64).numpy().copy()

        out = {
            "head.w1": arr(self.w1 * self.mask),
            "head.b1": arr(self.b1),
            "head.w2": arr(self.w2),
            "head.b2": arr(self.b2),
            "head.w3": arr(self.w3),
            "head.b3": arr(self.b3),
        }
        if self.latent_dim:
            out.update(
                {
                    "enc.w1": arr(self.enc1.weight),
                    "enc.b1": arr(self.enc1.bias),
                    "enc.w2": arr(self.enc2.weight[: self.latent_dim]),  # the mean, for a variational encoder
                    "enc.b2": arr(self.enc2.bias[: self.latent_dim]),
                }
            )
        return out
