"""The unet-s network of docs/PERFORMANCE.md and the same training step as bench_train.c,
in PyTorch, for a side-by-side timing. Prints key=value lines.

    /usr/bin/python3 bench_torch.py --threads 2 [--batch 32 --fwd-batch 128 --reps 7]
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(k, dim):
    half = dim // 2
    f = torch.exp(-torch.arange(half, dtype=torch.float64) * math.log(10000.0) / (half - 1))
    a = k.double()[:, None] * f[None, :]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1).float()


class Res(nn.Module):
    def __init__(self, cin, cout, e=128):
        super().__init__()
        self.gn1 = nn.GroupNorm(8, cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(e, cout)
        self.gn2 = nn.GroupNorm(8, cout, eps=1e-6)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, se):
        h = self.conv1(F.silu(self.gn1(x))) + self.temb(se)[:, :, None, None]
        h = self.conv2(F.silu(self.gn2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class UNetS(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(32, 128), nn.Linear(128, 128)
        self.inc = nn.Conv2d(1, 32, 3, padding=1)
        self.r0 = Res(32, 32)
        self.d1 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.r1 = Res(32, 64)
        self.d2 = nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.r2 = Res(64, 64)
        self.mid = Res(64, 64)
        self.u2 = Res(128, 64)
        self.c2 = nn.Conv2d(64, 64, 3, padding=1)
        self.u1 = Res(128, 64)
        self.c1 = nn.Conv2d(64, 64, 3, padding=1)
        self.u0 = Res(96, 32)
        self.gn = nn.GroupNorm(8, 32, eps=1e-6)
        self.out = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, x, k):
        se = F.silu(self.l2(F.silu(self.l1(timestep_embedding(k, 32)))))
        h0 = self.r0(self.inc(x), se)
        h1 = self.r1(self.d1(h0), se)
        h2 = self.r2(self.d2(h1), se)
        m = self.mid(h2, se)
        h = self.c2(F.interpolate(self.u2(torch.cat([m, h2], 1), se), scale_factor=2, mode="nearest"))
        h = self.c1(F.interpolate(self.u1(torch.cat([h, h1], 1), se), scale_factor=2, mode="nearest"))
        h = self.u0(torch.cat([h, h0], 1), se)
        return self.out(F.silu(self.gn(h)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--fwd-batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = UNetS()
    nparams = sum(p.numel() for p in model.parameters())
    assert nparams == 694561, nparams
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    N, T, tend = 255.0, 1000, 15.0
    L = math.log(math.expm1(tend))

    def batch(B):
        n0 = torch.randint(0, 256, (B, 1, 32, 32)).float()
        k = torch.randint(0, T, (B,))
        p = torch.sigmoid(L * (1 - 2 * k.double() / (T - 1))).float()
        nt = torch.binomial(n0, p[:, None, None, None].expand_as(n0))
        x = (nt - 0.5 * N * p[:, None, None, None]) / (0.5 * N)
        return x, k, n0 - nt, torch.rand(B)

    def step(x, k, y, w):
        opt.zero_grad(set_to_none=True)
        yhat = F.softplus(model(x, k))
        loss = (w[:, None, None, None] * (yhat - y * torch.log(yhat))).mean()
        loss.backward()
        opt.step()

    x, k, y, w = batch(a.batch)
    times = []
    for s in range(a.reps + 2):
        t0 = time.perf_counter()
        step(x, k, y, w)
        if s >= 2:
            times.append(time.perf_counter() - t0)
    t_train = statistics.median(times)

    xf, kf, _, _ = batch(a.fwd_batch)
    times = []
    with torch.inference_mode():
        for s in range(a.reps + 1):
            t0 = time.perf_counter()
            model(xf, kf)
            if s >= 1:
                times.append(time.perf_counter() - t0)
    t_fwd = statistics.median(times)
    t = a.threads
    print(f"torch_version={torch.__version__}")
    print(f"torch_threads={t}")
    print(f"torch_train_step_s_t{t}={t_train:.4f}")
    print(f"torch_train_samples_per_s_t{t}={a.batch / t_train:.1f}")
    print(f"torch_forward_samples_per_s_t{t}={a.fwd_batch / t_fwd:.1f}")


if __name__ == "__main__":
    main()
