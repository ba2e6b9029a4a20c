"""The unet-s network of docs/PERFORMANCE.md and the same training step as bench_train.c,
in PyTorch, for a side-by-side timing. Prints key=value lines.

    /usr/bin/python3 bench_torch.py --threads 2 [--batch 32 --fwd-batch 128 --reps 7]
    /usr/bin/python3 bench_torch.py --threads 2 --nz 16 --batch 8 --fwd-batch 0 --reps 3

--nz 16: the 3-D unet-s of bench_train.c -nz 16 (src/model/build.c with Nz > 1) on
16 x 32 x 32: Conv3d 3x3x3, the stride-2 convs halve z while the depth above is even
and at least 4 (BOModelLevelGrid's rule), nearest upsampling by the same factors;
its keys are prefixed torch3d_.
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
    def __init__(self, cin, cout, conv, e=128):
        super().__init__()
        self.gn1 = nn.GroupNorm(8, cin, eps=1e-6)
        self.conv1 = conv(cin, cout, 3, padding=1)
        self.temb = nn.Linear(e, cout)
        self.gn2 = nn.GroupNorm(8, cout, eps=1e-6)
        self.conv2 = conv(cout, cout, 3, padding=1)
        self.skip = conv(cin, cout, 1) if cin != cout else None
        self.dims = 3 if conv is nn.Conv3d else 2

    def forward(self, x, se):
        h = self.conv1(F.silu(self.gn1(x))) + self.temb(se).reshape(se.shape[0], -1, *([1] * self.dims))
        h = self.conv2(F.silu(self.gn2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


def halves_z(depth):
    """BOModelLevelGrid's rule: the next level halves z when this depth is even and >= 4."""
    return depth >= 4 and depth % 2 == 0


class UNetS(nn.Module):
    """unet-s; nz = 0 the 2-D network on 32 x 32, nz > 1 the 3-D one on nz x 32 x 32."""

    def __init__(self, nz=0):
        super().__init__()
        conv = nn.Conv3d if nz > 1 else nn.Conv2d
        z1 = 2 if nz > 1 and halves_z(nz) else 1  # z factor into level 1
        z2 = 2 if nz > 1 and halves_z(nz // z1) else 1  # and into level 2
        s1, s2 = ((z1, 2, 2), (z2, 2, 2)) if nz > 1 else (2, 2)
        self.up1, self.up2 = ((float(z1), 2.0, 2.0), (float(z2), 2.0, 2.0)) if nz > 1 else (2, 2)
        self.l1, self.l2 = nn.Linear(32, 128), nn.Linear(128, 128)
        self.inc = conv(1, 32, 3, padding=1)
        self.r0 = Res(32, 32, conv)
        self.d1 = conv(32, 32, 3, stride=s1, padding=1)
        self.r1 = Res(32, 64, conv)
        self.d2 = conv(64, 64, 3, stride=s2, padding=1)
        self.r2 = Res(64, 64, conv)
        self.mid = Res(64, 64, conv)
        self.u2 = Res(128, 64, conv)
        self.c2 = conv(64, 64, 3, padding=1)
        self.u1 = Res(128, 64, conv)
        self.c1 = conv(64, 64, 3, padding=1)
        self.u0 = Res(96, 32, conv)
        self.gn = nn.GroupNorm(8, 32, eps=1e-6)
        self.out = conv(32, 1, 3, padding=1)

    def forward(self, x, k):
        se = F.silu(self.l2(F.silu(self.l1(timestep_embedding(k, 32)))))
        h0 = self.r0(self.inc(x), se)
        h1 = self.r1(self.d1(h0), se)
        h2 = self.r2(self.d2(h1), se)
        m = self.mid(h2, se)
        h = self.c2(F.interpolate(self.u2(torch.cat([m, h2], 1), se), scale_factor=self.up2, mode="nearest"))
        h = self.c1(F.interpolate(self.u1(torch.cat([h, h1], 1), se), scale_factor=self.up1, mode="nearest"))
        h = self.u0(torch.cat([h, h0], 1), se)
        return self.out(F.silu(self.gn(h)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--fwd-batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    ap.add_argument("--nz", type=int, default=0, help="depth of the 3-D network (0: the 2-D one)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = UNetS(a.nz)
    nparams = sum(p.numel() for p in model.parameters())
    if a.nz == 0:
        assert nparams == 694561, nparams
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    N, T, tend = 255.0, 1000, 15.0
    L = math.log(math.expm1(tend))

    def batch(B):
        n0 = torch.randint(0, 256, (B, 1) + ((a.nz,) if a.nz > 1 else ()) + (32, 32)).float()
        k = torch.randint(0, T, (B,))
        p = torch.sigmoid(L * (1 - 2 * k.double() / (T - 1))).float().reshape(B, *([1] * (n0.dim() - 1)))
        nt = torch.binomial(n0, p.expand_as(n0))
        x = (nt - 0.5 * N * p) / (0.5 * N)
        return x, k, n0 - nt, torch.rand(B)

    def step(x, k, y, w):
        opt.zero_grad(set_to_none=True)
        yhat = F.softplus(model(x, k))
        loss = (w.reshape(-1, *([1] * (y.dim() - 1))) * (yhat - y * torch.log(yhat))).mean()
        loss.backward()
        opt.step()

    x, k, y, w = batch(a.batch)
    times, cpu = [], []
    for s in range(a.reps + a.warmup):
        t0, c0 = time.perf_counter(), time.process_time()
        step(x, k, y, w)
        if s >= a.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    t_train, times_train, c_train = statistics.median(times), times, statistics.median(cpu)

    t_fwd = 0
    if a.fwd_batch > 0:
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
    p = "torch3d" if a.nz > 1 else "torch"
    print(f"torch_version={torch.__version__}")
    print(f"torch_threads={t}")
    print(f"{p}_nparams={nparams}")
    print(f"{p}_train_step_s_t{t}={t_train:.4f}")
    print(f"{p}_train_step_s_all_t{t}={','.join(f'{x:.4f}' for x in times_train)}")
    print(f"{p}_train_samples_per_s_t{t}={a.batch / t_train:.1f}")
    print(f"{p}_train_cpu_s_t{t}={c_train:.4f}")  # CPU time of all threads of the process
    if t_fwd > 0:
        print(f"{p}_forward_samples_per_s_t{t}={a.fwd_batch / t_fwd:.1f}")


if __name__ == "__main__":
    main()
