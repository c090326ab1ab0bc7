#!/usr/bin/python3
"""PyTorch implementation of the reference workloads (docs/reference-workloads.md).

The same presets (`seed`, `mlp`, `conv`) and the same GAN, VAE and VAE-GAN training steps
that vaegan's bench_step runs, with the same rows in every pass (which matters for the
batch norm of `conv`), written the way a careful PyTorch user would write them, and
timed the same way: warm-up steps, then the median wall time of whole steps (forward,
backward, optimizer) measured with time.perf_counter().

Run it with Debian's interpreter, which is the one python3-torch installs into:

    /usr/bin/python3 benchmarks/reference/step_torch.py --preset mlp --step vaegan \
        --batch 256 --threads 2 --search
    /usr/bin/python3 benchmarks/reference/step_torch.py --all        # every configuration
    /usr/bin/python3 benchmarks/reference/step_torch.py --check      # validate the math

Thread counts. Debian's torch runs its own kernels on OpenMP (torch.set_num_threads) and
its matrix products on OpenBLAS (the libblas.so.3 alternative, a pthread build) whose pool
size only the environment sets, before the library loads. So the program has two modes:
the parent (the default) never imports torch; it starts one worker per thread split,
`step_torch.py --worker ...`, with OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and
MKL_NUM_THREADS set for that split. A worker checks the split really took (it asks
OpenBLAS for its thread count) and prints one JSON line.

Output: one JSON line per configuration on stdout,
    {"impl":"pytorch","preset":"mlp","step":"vaegan","batch":256,"threads":2,
     "torch_threads":1,"blas_threads":2,"steps":100,"clock":"wall","median_ms":..,
     "min_ms":..,"max_ms":..,"flops_per_step":..,"gflops":..}
With --search, the splits that lost go to stderr (same format) and only the best to stdout.

This module imports only the standard library at the top level, so compare.py can import
flops_per_step() and the presets without loading torch.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------
# Presets. Dense ones: layer lists (in, out). Every layer has a bias.
# ---------------------------------------------------------------------------------------
PRESETS = {
    "seed": {
        "arch": "dense",
        "latent": 16,
        "enc_trunk": [(784, 128), (128, 64), (64, 32)],   # ReLU after each
        "enc_heads": [(32, 16), (32, 16)],                # mu, logvar
        "dec": [(16, 32), (32, 64), (64, 128), (128, 784)],  # ReLU between, logits out
        "disc": [(784, 128), (128, 64), (64, 1)],         # LeakyReLU(0.2) between, logit out
    },
    "mlp": {
        "arch": "dense",
        "latent": 32,
        "enc_trunk": [(784, 512), (512, 256)],
        "enc_heads": [(256, 32), (256, 32)],
        "dec": [(32, 256), (256, 512), (512, 784)],
        "disc": [(784, 512), (512, 256), (256, 1)],
    },
    # DCGAN-style (docs/reference-workloads.md): encoder and discriminator convolve the
    # image [1, 28, 28] with Conv(k4 s2 p1) through `channels` (28 -> 14 -> 7), BatchNorm2d
    # after every conv but the first, LeakyReLU(0.2); the decoder mirrors them with
    # Linear(latent -> 64*7*7) BatchNorm1d ReLU, then ConvTranspose2d (k4 s2 p1) with
    # BatchNorm2d and ReLU between, logits [1, 28, 28] out.
    "conv": {
        "arch": "conv",
        "latent": 32,
        "image": (1, 28, 28),
        "channels": [32, 64],
        "kernel": 4, "stride": 2, "padding": 1,
    },
}
STEPS = ("gan", "vae", "vaegan")
BATCHES = (64, 256)
THREADS = (1, 2)


def thread_splits(threads):
    """(torch_threads, blas_threads) splits tried for a core budget of `threads`."""
    if threads == 1:
        return [(1, 1)]
    if threads == 2:
        return [(1, 2), (2, 1), (2, 2), (1, 1)]
    raise ValueError("threads must be 1 or 2")


# ---------------------------------------------------------------------------------------
# Analytic FLOPs (the C++ side, bench_step, uses the identical formula: step_flops.hpp)
# ---------------------------------------------------------------------------------------
def image_shape(preset):
    """Sample shape of one image: (784,) for the dense presets, (C, H, W) for conv."""
    p = PRESETS[preset]
    return tuple(p["image"]) if p["arch"] == "conv" else (784,)


def conv_gemms(channels, image, latent, kernel=4, stride=2, padding=1):
    """The GEMMs of the conv preset's networks, as (positions, in, out) per layer.

    A layer applied to R samples costs 2*R*positions*in*out per GEMM (forward, weight
    gradient, input gradient alike):
      Conv2d(c_in -> c_out) on [c_in, H, W] -> [c_out, Ho, Wo]:  (Ho*Wo, c_in*k*k, c_out)
          (per sample y = W col, W [c_out, c_in k k], col [c_in k k, Ho Wo])
      ConvTranspose2d(c_in -> c_out) on [c_in, H, W]:           (H*W, c_in, c_out*k*k)
          (per sample col = W^T x, W [c_in, c_out k k], x [c_in, H W]; col2im adds)
      Linear(in -> out):                                          (1, in, out)
    Returns (encoder, decoder, discriminator); the encoder's last two entries are the heads.
    """
    k, s, p = kernel, stride, padding
    c, h, w = image
    enc = []
    for c_out in channels:
        if (h + 2 * p - k) % s or (w + 2 * p - k) % s:
            raise ValueError(f"conv: {h}x{w} does not divide into whole windows")
        h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        enc.append((h * w, c * k * k, c_out))
        c = c_out
    features = c * h * w
    disc = enc + [(1, features, 1)]
    dec = [(1, latent, features)]
    for c_out in list(channels[-2::-1]) + [image[0]]:
        dec.append((h * w, c, c_out * k * k))
        h, w = (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
        c = c_out
    if (c, h, w) != tuple(image):
        raise ValueError(f"conv: the decoder makes {(c, h, w)}, not {tuple(image)}")
    enc = enc + [(1, features, latent), (1, features, latent)]
    return enc, dec, disc


def network_gemms(preset):
    """(encoder, decoder, discriminator) as lists of (positions, in, out) per layer."""
    p = PRESETS[preset]
    if p["arch"] == "conv":
        return conv_gemms(p["channels"], p["image"], p["latent"], p["kernel"], p["stride"],
                          p["padding"])
    dense = lambda layers: [(1, i, o) for i, o in layers]  # noqa: E731
    return dense(p["enc_trunk"] + p["enc_heads"]), dense(p["dec"]), dense(p["disc"])


def flops_per_step(preset, step, batch):
    """Minimum matmul FLOPs of one training step: the figure GFLOP/s is computed from.

    Counts only the matrix products (2 FLOPs per multiply-add), never activations, losses,
    biases, batch norm or the optimizer. For a network's layer list of (positions, in, out)
    (conv_gemms(); a dense layer is (1, in, out)) applied to R rows (samples):

        fwd(net, R)        = sum 2*R*positions*in*out   forward products
        dW(net, R)         = sum 2*R*positions*in*out   weight gradients
        dX(net, R, first)  = sum 2*R*positions*in*out over the layers, leaving out the
                             network's first layer unless first=True   input gradients

    The encoder E is its trunk plus both heads (mu and logvar); its first layer is the
    trunk's first (784 -> ... or the first Conv2d), so in dX the heads always count and
    that layer never does.
    With B the batch and Dec the decoder (= the GAN's generator G):

      GAN    = fwd(G,B) + fwd(D,2B) + dW(D,2B) + dX(D,2B,False) + dX(D,B,True)
               + dW(G,B) + dX(G,B,False)
      VAE    = fwd(E,B) + fwd(Dec,B) + dW(Dec,B) + dX(Dec,B,True) + dW(E,B) + dX(E,B,False)
      VAEGAN = fwd(E,B) + fwd(Dec,2B) + fwd(D,3B) + dW(D,3B) + dX(D,3B,False)
               + dX(Dec,B,True) + dW(E,B) + dX(E,B,False) + dX(D,2B,True)
               + dW(Dec,2B) + dX(Dec,2B,False)

    (D's weight gradient sees all its rows; G's/Dec's loss back-propagates through D only
    for the fake rows, and into D's first layer's input; E's loss reaches the decoder only
    through x_r, B rows, down to z.)
    """
    enc, dec, disc = network_gemms(preset)

    def mm(layers, rows):
        return sum(2 * rows * n * i * o for n, i, o in layers)

    def fwd(net, rows):
        return mm(net, rows)

    def dW(net, rows):
        return mm(net, rows)

    def dX(net, rows, first):
        return mm(net if first else net[1:], rows)

    B = batch
    if step == "gan":
        return (fwd(dec, B) + fwd(disc, 2 * B) + dW(disc, 2 * B) + dX(disc, 2 * B, False)
                + dX(disc, B, True) + dW(dec, B) + dX(dec, B, False))
    if step == "vae":
        return (fwd(enc, B) + fwd(dec, B) + dW(dec, B) + dX(dec, B, True)
                + dW(enc, B) + dX(enc, B, False))
    if step == "vaegan":
        return (fwd(enc, B) + fwd(dec, 2 * B) + fwd(disc, 3 * B) + dW(disc, 3 * B)
                + dX(disc, 3 * B, False) + dX(dec, B, True) + dW(enc, B) + dX(enc, B, False)
                + dX(disc, 2 * B, True) + dW(dec, 2 * B) + dX(dec, 2 * B, False))
    raise ValueError(step)


# ---------------------------------------------------------------------------------------
# Worker side: everything below that touches torch runs only in a worker process
# ---------------------------------------------------------------------------------------
def _import_torch():
    import torch  # noqa: WPS433 (deliberately late: thread env must be set first)
    return torch


def build_models(torch, preset, inplace=True):
    """Encoder (trunk + mu/logvar heads), decoder/generator, discriminator."""
    nn = torch.nn
    p = PRESETS[preset]
    if p["arch"] == "conv":
        return build_conv_models(torch, p, inplace)

    def mlp(layers, act):
        mods = []
        for k, (i, o) in enumerate(layers):
            mods.append(nn.Linear(i, o))
            if k + 1 < len(layers):
                mods.append(act())
        return nn.Sequential(*mods)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            mods = []
            for i, o in p["enc_trunk"]:
                mods += [nn.Linear(i, o), nn.ReLU(inplace=inplace)]
            self.trunk = nn.Sequential(*mods)
            (hi, ho), (li, lo) = p["enc_heads"]
            self.mu = nn.Linear(hi, ho)
            self.logvar = nn.Linear(li, lo)

        def forward(self, x):
            h = self.trunk(x)
            return self.mu(h), self.logvar(h)

    enc = Encoder()
    dec = mlp(p["dec"], lambda: nn.ReLU(inplace=inplace))              # outputs logits
    disc = mlp(p["disc"], lambda: nn.LeakyReLU(0.2, inplace=inplace))  # one logit per row
    return enc, dec, disc


def build_conv_models(torch, p, inplace=True):
    """The `conv` preset: DCGAN-style encoder, decoder/generator and discriminator.

    Every layer has a bias (the convs before a BatchNorm too: PyTorch's default); BatchNorm
    with PyTorch's defaults (eps 1e-5, momentum 0.1, affine). In-place activations are
    safe after Conv2d, BatchNorm and Linear (none of their backwards reads its output).
    """
    nn = torch.nn
    k, s, pad = p["kernel"], p["stride"], p["padding"]
    c_img, h, w = p["image"]
    chans = p["channels"]
    latent = p["latent"]
    lrelu = lambda: nn.LeakyReLU(0.2, inplace=inplace)  # noqa: E731

    def conv_trunk():
        # Conv(c_img -> chans[0]) LeakyReLU, then Conv BatchNorm2d LeakyReLU per further
        # width, then Flatten.
        mods, c = [], c_img
        for j, c_out in enumerate(chans):
            mods.append(nn.Conv2d(c, c_out, k, s, pad))
            if j > 0:
                mods.append(nn.BatchNorm2d(c_out))
            mods.append(lrelu())
            c = c_out
        mods.append(nn.Flatten())
        return nn.Sequential(*mods)

    hh, ww = h, w
    for _ in chans:
        hh, ww = (hh + 2 * pad - k) // s + 1, (ww + 2 * pad - k) // s + 1
    features = chans[-1] * hh * ww

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = conv_trunk()
            self.mu = nn.Linear(features, latent)
            self.logvar = nn.Linear(features, latent)

        def forward(self, x):
            h_ = self.trunk(x)
            return self.mu(h_), self.logvar(h_)

    dec_mods = [nn.Linear(latent, features), nn.BatchNorm1d(features), nn.ReLU(inplace=inplace),
                nn.Unflatten(1, (chans[-1], hh, ww))]
    outs = list(chans[-2::-1]) + [c_img]
    c = chans[-1]
    for j, c_out in enumerate(outs):
        dec_mods.append(nn.ConvTranspose2d(c, c_out, k, s, pad))
        if j + 1 < len(outs):
            dec_mods += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=inplace)]
        c = c_out
    dec = nn.Sequential(*dec_mods)                              # logits [N, 1, 28, 28]
    disc = nn.Sequential(*conv_trunk(), nn.Linear(features, 1))  # one logit per image
    return Encoder(), dec, disc


def make_adam(torch, params, variant):
    kw = dict(lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    if variant == "foreach":
        return torch.optim.Adam(params, foreach=True, **kw)
    if variant == "single":
        return torch.optim.Adam(params, foreach=False, **kw)
    if variant == "fused":   # torch 1.13: CUDA only, raises on CPU tensors
        return torch.optim.Adam(params, fused=True, **kw)
    raise ValueError(variant)


class Workload:
    """One training step of one reference workload, as a callable returning the losses."""

    def __init__(self, torch, preset, step, batch, adam="foreach", seed=0, split_dec=None,
                 inplace=True):
        F = torch.nn.functional
        self.torch, self.preset, self.step_name, self.batch = torch, preset, step, batch
        torch.manual_seed(seed)
        self.enc, self.dec, self.disc = build_models(torch, preset, inplace)
        latent = PRESETS[preset]["latent"]
        B = batch
        # VAE-GAN decoder passes. vaegan's step runs ONE decoder pass over [z; z_p] (2B
        # rows). With batch norm in the decoder (conv) that is part of the math: the batch
        # statistics are those of the 2B rows, so the reference must do the same. Without
        # (dense presets) both are the same function, and two B-row passes measured faster.
        if split_dec is None:
            split_dec = PRESETS[preset]["arch"] != "conv"
        self.split_dec = split_dec
        # Real data: a fixed batch of uniform [0, 1) "images" (what bench_step uses too),
        # [B, 784] for the dense presets, [B, 1, 28, 28] for conv.
        gen = torch.Generator().manual_seed(1)
        self.x = torch.rand(B, *image_shape(preset), generator=gen)
        ones, zeros = torch.ones(B, 1), torch.zeros(B, 1)
        ones2 = torch.ones(2 * B, 1)
        bce = F.binary_cross_entropy_with_logits       # mean over the batch

        def rec(logits, x):        # pixel BCE, summed over the 784 pixels, mean over batch
            return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / B

        def kl(mu, logvar):        # KL(N(mu, exp(logvar)) || N(0, I)), sum dims, mean batch
            return -0.5 * torch.sum(1.0 + logvar - mu * mu - logvar.exp()) / B

        x = self.x
        enc, dec, disc = self.enc, self.dec, self.disc
        grad = torch.autograd.grad

        if step == "gan":
            pG, pD = list(dec.parameters()), list(disc.parameters())
            self.opts = [make_adam(torch, pD, adam), make_adam(torch, pG, adam)]
            optD, optG = self.opts
            ones_zeros = torch.cat([ones, zeros])           # targets for [x; x_f]

            def run():
                z = torch.randn(B, latent)
                x_f = dec(z)                                 # logits
                d = disc(torch.cat([x, torch.sigmoid(x_f)]))  # the one D forward, 2B rows
                # BCE(D(x),1) + BCE(D(x_f),0), both means over B = mean over 2B times 2
                loss_d = bce(d, ones_zeros) * 2.0
                loss_g = bce(d[B:], ones)                   # non-saturating
                gD = grad(loss_d, pD, retain_graph=True)
                gG = grad(loss_g, pG)
                for p_, g_ in zip(pD, gD):
                    p_.grad = g_
                for p_, g_ in zip(pG, gG):
                    p_.grad = g_
                optD.step()
                optG.step()
                return loss_d, loss_g

        elif step == "vae":
            params = list(enc.parameters()) + list(dec.parameters())
            self.opts = [make_adam(torch, list(enc.parameters()), adam),
                         make_adam(torch, list(dec.parameters()), adam)]
            optE, optDec = self.opts

            def run():
                mu, logvar = enc(x)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                x_r = dec(z)
                loss = rec(x_r, x) + kl(mu, logvar)
                gs = grad(loss, params)
                for p_, g_ in zip(params, gs):
                    p_.grad = g_
                optE.step()
                optDec.step()
                return (loss,)

        elif step == "vaegan":
            pE, pDec, pD = (list(enc.parameters()), list(dec.parameters()),
                            list(disc.parameters()))
            self.opts = [make_adam(torch, pD, adam), make_adam(torch, pE, adam),
                         make_adam(torch, pDec, adam)]
            optD, optE, optDec = self.opts
            one_zero_zero = torch.cat([ones, zeros, zeros])  # targets for [x; x_r; x_p]

            def run():
                mu, logvar = enc(x)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                z_p = torch.randn(B, latent)
                if split_dec:
                    x_r, x_p = dec(z), dec(z_p)
                    d = disc(torch.cat([x, torch.sigmoid(x_r), torch.sigmoid(x_p)]))
                else:
                    logits = dec(torch.cat([z, z_p]))        # one decoder pass, 2B rows
                    x_r = logits[:B]
                    d = disc(torch.cat([x, torch.sigmoid(logits)]))  # the one D forward, 3B
                l_rec = rec(x_r, x)
                # BCE(D(x),1) + BCE(D(x_r),0) + BCE(D(x_p),0), each a mean over B
                loss_d = bce(d, one_zero_zero) * 3.0
                loss_e = kl(mu, logvar) + l_rec
                # gamma * rec + BCE(D(x_r),1) + BCE(D(x_p),1)   (gamma = 1)
                loss_dec = l_rec + bce(d[B:], ones2) * 2.0
                gD = grad(loss_d, pD, retain_graph=True)
                gE = grad(loss_e, pE, retain_graph=True)
                gDec = grad(loss_dec, pDec)
                for ps, gs in ((pD, gD), (pE, gE), (pDec, gDec)):
                    for p_, g_ in zip(ps, gs):
                        p_.grad = g_
                optD.step()
                optE.step()
                optDec.step()
                return loss_d, loss_e, loss_dec
        else:
            raise ValueError(step)
        self.run = run


def _blas_threads_actual():
    """OpenBLAS's own thread count, read from the libblas.so.3 the process loaded."""
    import ctypes
    try:
        lib = ctypes.CDLL("libblas.so.3")
        return int(lib.openblas_get_num_threads())
    except (OSError, AttributeError):
        return None


def worker(args):
    t_req, b_req = args.torch_threads, args.blas_threads
    for var, want in (("OMP_NUM_THREADS", t_req), ("OPENBLAS_NUM_THREADS", b_req)):
        if os.environ.get(var) != str(want):
            sys.exit(f"step_torch.py --worker: {var}={os.environ.get(var)!r}, expected {want}; "
                     "run without --worker, the parent sets the environment")
    torch = _import_torch()
    torch.set_num_threads(t_req)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    torch.backends.mkldnn.enabled = not args.no_mkldnn
    b_act = _blas_threads_actual()
    if b_act is not None and b_act != b_req:
        sys.exit(f"step_torch.py: OpenBLAS reports {b_act} threads, asked for {b_req}")
    if torch.get_num_threads() != t_req:
        sys.exit(f"step_torch.py: torch reports {torch.get_num_threads()} threads, asked for {t_req}")

    w = Workload(torch, args.preset, args.step, args.batch, adam=args.adam)
    run = w.run
    # --clock cpu: the calling thread's CPU time, as bench_step --clock cpu. With one torch
    # thread and one OpenBLAS thread every kernel runs on this thread (autograd runs a
    # CPU graph's backward on the calling thread too), so this leaves out only the time the
    # process was preempted: the figure to trust on a machine shared with other work.
    perf = time.thread_time if args.clock == "cpu" else time.perf_counter
    for _ in range(args.warmup):
        run()
    import gc
    gc.collect()
    gc.disable()           # as timeit does: no collector pauses inside the timed steps
    times = []
    try:
        for _ in range(args.steps):
            t0 = perf()
            run()
            times.append(perf() - t0)
    finally:
        gc.enable()
    med = statistics.median(times)
    flops = flops_per_step(args.preset, args.step, args.batch)
    rec = {
        "impl": "pytorch", "preset": args.preset, "step": args.step, "batch": args.batch,
        "threads": args.threads, "torch_threads": t_req, "blas_threads": b_req,
        "steps": args.steps, "clock": args.clock,
        "median_ms": round(med * 1e3, 4), "min_ms": round(min(times) * 1e3, 4),
        "max_ms": round(max(times) * 1e3, 4),
        "flops_per_step": flops, "gflops": round(flops / med / 1e9, 3),
    }
    print(json.dumps(rec, separators=(",", ":")), flush=True)


# ---------------------------------------------------------------------------------------
# --check: validate the math
# ---------------------------------------------------------------------------------------
def check(args):
    """Finite losses; VAE loss falls on the fixed batch; exactly one D forward per step and
    the decoder passes vaegan's step runs; for conv, the rows every batch-norm layer
    normalizes over (vaegan's stacking: D over [x; x_f] or [x; x_r; x_p], the VAE-GAN's
    decoder over [z; z_p]); and the single-D-forward / autograd.grad formulation gives the
    same gradients as a naive one (a D pass per loss, loss.backward() and zero_grad per
    network)."""
    torch = _import_torch()
    torch.set_num_threads(1)
    F = torch.nn.functional
    ok = True
    B_check = 32
    for preset in PRESETS:
        conv = PRESETS[preset]["arch"] == "conv"
        for step in STEPS:
            w = Workload(torch, preset, step, B_check, adam=args.adam)
            d_calls, dec_calls = [0], [0]
            bump = lambda c: (lambda m, i, o: c.__setitem__(0, c[0] + 1))  # noqa: E731
            if step != "vae":
                w.disc.register_forward_hook(bump(d_calls))
            w.dec.register_forward_hook(bump(dec_calls))
            # Rows each batch-norm layer normalizes over, per network, in the first step.
            bn_rows = {}
            hooks = []
            nets = {"G" if step == "gan" else "Dec": w.dec}
            if step != "gan":
                nets["E"] = w.enc
            if step != "vae":
                nets["D"] = w.disc
            for name, net in nets.items():
                for m in net.modules():
                    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                        hooks.append(m.register_forward_pre_hook(
                            lambda m_, i, name=name: bn_rows.setdefault(name, set()).add(
                                int(i[0].shape[0]))))
            dec_passes = 2 if (step == "vaegan" and w.split_dec) else 1
            hist = []
            n = 60 if step == "vae" else 10
            for k in range(n):
                before_d, before_dec = d_calls[0], dec_calls[0]
                losses = w.run()
                for h in hooks:
                    h.remove()
                hooks = []
                vals = [float(l) for l in losses]
                assert all(v == v and abs(v) < float("inf") for v in vals), (preset, step, k, vals)
                if step != "vae":
                    assert d_calls[0] - before_d == 1, \
                        f"{preset}/{step}: D forward ran {d_calls[0] - before_d}x"
                assert dec_calls[0] - before_dec == dec_passes, \
                    f"{preset}/{step}: decoder ran {dec_calls[0] - before_dec}x, not {dec_passes}"
                hist.append(vals[0])
            msg = (f"{preset:5s} {step:6s} first {hist[0]:.4f} last {hist[-1]:.4f}; "
                   f"passes/step: {'D 1, ' if step != 'vae' else ''}decoder {dec_passes}")
            if conv:
                B = B_check
                want = {"gan": {"G": {B}, "D": {2 * B}}, "vae": {"E": {B}, "Dec": {B}},
                        "vaegan": {"E": {B}, "Dec": {2 * B}, "D": {3 * B}}}[step]
                assert bn_rows == want, f"{preset}/{step}: batch-norm rows {bn_rows}, want {want}"
                msg += "; BN rows " + ", ".join(f"{k_} {sorted(v)[0] // B}B"
                                                for k_, v in sorted(bn_rows.items()))
            if step == "vae":
                first, last = statistics.mean(hist[:5]), statistics.mean(hist[-5:])
                assert last < first, f"{preset}/vae: loss did not fall ({first} -> {last})"
                msg += f"  (VAE loss falls: mean of first 5 {first:.3f} -> last 5 {last:.3f})"
            print("check:", msg)
        if conv:
            w = Workload(torch, preset, "vaegan", 2, adam=args.adam)
            counts = [sum(p_.numel() for p_ in net.parameters())
                      for net in (w.enc, w.dec, w.disc)]
            print(f"check: {preset:5s} parameters: encoder {counts[0]}, decoder {counts[1]}, "
                  f"discriminator {counts[2]}")

    # Gradient equivalence with a naive formulation, same noise, same parameters. For the
    # dense presets the naive form runs D separately on each part (x, x_f, ...); with batch
    # norm (conv) D's output depends on the whole batch, so there it runs D once per loss
    # over the same stacked batch, and the VAE-GAN decoder once over [z; z_p].
    for preset in PRESETS:
        stacked = PRESETS[preset]["arch"] == "conv"
        for step in ("gan", "vaegan"):
            torch.manual_seed(5)
            w = Workload(torch, preset, step, 16, adam=args.adam)
            enc, dec, disc, x = w.enc, w.dec, w.disc, w.x
            B = w.batch
            latent = PRESETS[preset]["latent"]
            # snapshot parameters, run one real step with recorded RNG, read the grads
            state = torch.random.get_rng_state()
            w.run()
            nets = [disc, dec] if step == "gan" else [disc, enc, dec]
            fast = {id(p): p.grad.clone() for n_ in nets for p in n_.parameters()}
            # reset parameters to pre-step values: rebuild with same seed
            torch.manual_seed(5)
            w2 = Workload(torch, preset, step, 16, adam=args.adam)
            enc, dec, disc = w2.enc, w2.dec, w2.disc
            torch.random.set_rng_state(state)
            ones, zeros = torch.ones(B, 1), torch.zeros(B, 1)
            bce = F.binary_cross_entropy_with_logits

            def D_parts(*imgs):
                """D's logits of each image batch: one pass over all of them if stacked."""
                if stacked:
                    return disc(torch.cat(imgs)).split(B)
                return [disc(i) for i in imgs]

            if step == "gan":
                z = torch.randn(B, latent)
                x_f = dec(z)
                d_real, d_fake = D_parts(x, torch.sigmoid(x_f).detach())
                loss_d = bce(d_real, ones) + bce(d_fake, zeros)
                disc.zero_grad(set_to_none=True)
                loss_d.backward()
                gd = [p.grad.clone() for p in disc.parameters()]
                loss_g = bce(D_parts(x, torch.sigmoid(x_f))[1], ones)
                dec.zero_grad(set_to_none=True)
                loss_g.backward()
                slow = gd + [p.grad.clone() for p in dec.parameters()]
                fast_l = [fast[id(p)] for p in w.disc.parameters()] + \
                         [fast[id(p)] for p in w.dec.parameters()]
            else:
                mu, logvar = enc(x)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                z_p = torch.randn(B, latent)
                if stacked:
                    x_r, x_p = dec(torch.cat([z, z_p])).split(B)
                else:
                    x_r, x_p = dec(z), dec(z_p)
                rec = F.binary_cross_entropy_with_logits(x_r, x, reduction="sum") / B
                klv = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / B
                d_x, d_r, d_p = D_parts(x, torch.sigmoid(x_r).detach(),
                                        torch.sigmoid(x_p).detach())
                loss_d = bce(d_x, ones) + bce(d_r, zeros) + bce(d_p, zeros)
                disc.zero_grad(set_to_none=True)
                loss_d.backward()
                gd = [p.grad.clone() for p in disc.parameters()]
                loss_e = klv + rec
                ge = torch.autograd.grad(loss_e, list(enc.parameters()), retain_graph=True)
                _, d_r, d_p = D_parts(x, torch.sigmoid(x_r), torch.sigmoid(x_p))
                loss_dec = rec + bce(d_r, ones) + bce(d_p, ones)
                gdec = torch.autograd.grad(loss_dec, list(dec.parameters()))
                slow = gd + list(ge) + list(gdec)
                fast_l = ([fast[id(p)] for p in w.disc.parameters()]
                          + [fast[id(p)] for p in w.enc.parameters()]
                          + [fast[id(p)] for p in w.dec.parameters()])
            # Each tensor's largest difference relative to its largest gradient, floored at
            # a thousandth of the step's largest: a bias right before a batch norm has a
            # gradient of exactly zero in exact arithmetic (the norm subtracts it again), so
            # both sides hold only rounding noise there (about 1e-8 of the others).
            floor = 1e-3 * max(float(b.abs().max()) for b in slow)
            worst = max(float((a - b).abs().max()) / max(float(b.abs().max()), floor, 1e-30)
                        for a, b in zip(fast_l, slow))
            print(f"check: {preset:5s} {step:6s} gradients vs naive formulation: "
                  f"max rel. diff {worst:.2e}")
            if worst > 1e-4:
                ok = False
    # flops formula sanity: a hand-computed value (mlp VAE, B=1)
    assert flops_per_step("mlp", "vae", 1) == 2 * (
        (784 * 512 + 512 * 256 + 2 * 256 * 32) * 2 + 512 * 256 + 2 * 256 * 32
        + (32 * 256 + 256 * 512 + 512 * 784) * 3)
    # ... and the conv GEMM shapes, by hand: Conv 1->32 on 28x28 -> 14x14, Conv 32->64 ->
    # 7x7, heads 3136 -> 32; Linear 32 -> 3136, ConvT 64->32 on 7x7, ConvT 32->1 on 14x14.
    assert network_gemms("conv") == (
        [(14 * 14, 1 * 16, 32), (7 * 7, 32 * 16, 64), (1, 3136, 32), (1, 3136, 32)],
        [(1, 32, 3136), (7 * 7, 64, 32 * 16), (14 * 14, 32, 1 * 16)],
        [(14 * 14, 1 * 16, 32), (7 * 7, 32 * 16, 64), (1, 3136, 1)])
    conv_e = 14 * 14 * 16 * 32 + 49 * 512 * 64 + 2 * 3136 * 32
    conv_dec = 32 * 3136 + 49 * 64 * 512 + 196 * 32 * 16
    # VAE, B=1: fwd, dW of E and Dec, dX of Dec (all) and of E (all but the first conv)
    assert flops_per_step("conv", "vae", 1) == 2 * (
        2 * conv_e + 3 * conv_dec + conv_e - 14 * 14 * 16 * 32)
    if not ok:
        sys.exit("check: FAILED")
    print("check: OK")


# ---------------------------------------------------------------------------------------
# Parent side: spawn workers with the thread environment of each split
# ---------------------------------------------------------------------------------------
def run_split(preset, step, batch, threads, t, b, steps, warmup, extra=()):
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(b), MKL_NUM_THREADS=str(b))
    env.pop("GOTO_NUM_THREADS", None)
    cmd = [PYTHON, os.path.join(HERE, "step_torch.py"), "--worker",
           "--preset", preset, "--step", step, "--batch", str(batch),
           "--threads", str(threads), "--torch-threads", str(t), "--blas-threads", str(b),
           "--steps", str(steps), "--warmup", str(warmup), *extra]
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=False, text=True)
    if out.returncode != 0:
        sys.exit(f"step_torch.py: worker failed ({out.returncode}): {' '.join(cmd)}")
    line = out.stdout.strip().splitlines()[-1]
    return line, json.loads(line)


def run_config(args, preset, step, batch, threads, search):
    extra = []
    if args.flush_denormal:
        extra.append("--flush-denormal")
    if args.no_mkldnn:
        extra.append("--no-mkldnn")
    extra += ["--adam", args.adam, "--clock", args.clock]
    if search:
        splits = thread_splits(threads)
    elif args.torch_threads is not None or args.blas_threads is not None:
        t = args.torch_threads if args.torch_threads is not None else 1
        b = args.blas_threads if args.blas_threads is not None else threads
        if t > threads or b > threads:
            sys.exit(f"step_torch.py: split {t}/{b} exceeds the core budget {threads}")
        splits = [(t, b)]
    else:
        splits = [thread_splits(threads)[0]]
    results = [run_split(preset, step, batch, threads, t, b, args.steps, args.warmup, extra)
               for t, b in splits]
    best = min(results, key=lambda r: r[1]["median_ms"])
    for line, _ in results:
        if line is not best[0]:
            print(line, file=sys.stderr, flush=True)
    print(best[0], flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="mlp")
    ap.add_argument("--step", choices=STEPS, default="vaegan")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, choices=THREADS, default=1,
                    help="core budget")
    ap.add_argument("--torch-threads", type=int, help="torch (OpenMP) intra-op threads")
    ap.add_argument("--blas-threads", type=int, help="OpenBLAS threads")
    ap.add_argument("--search", action="store_true",
                    help="try every split for the core budget; best to stdout, rest to stderr")
    ap.add_argument("--all", action="store_true",
                    help="every configuration (3 presets x 3 steps x batch 64/256 x threads 1/2), "
                         "with --search")
    ap.add_argument("--steps", type=int, default=100, help="timed steps (default 100)")
    ap.add_argument("--warmup", type=int, default=10, help="warm-up steps (default 10)")
    ap.add_argument("--check", action="store_true", help="validate the math and exit")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall (default), or cpu: the thread's CPU time per step, as "
                         "bench_step --clock cpu (needs --threads 1)")
    ap.add_argument("--adam", choices=("foreach", "single", "fused"), default="foreach",
                    help="Adam implementation (default foreach, the fastest on CPU in 1.13; "
                         "fused is CUDA-only there)")
    ap.add_argument("--flush-denormal", action="store_true",
                    help="torch.set_flush_denormal(True) (off by default: made no difference)")
    ap.add_argument("--no-mkldnn", action="store_true",
                    help="torch.backends.mkldnn.enabled = False (fp32 Linear uses BLAS anyway)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.clock == "cpu" and (args.threads != 1 or args.all):
        sys.exit("step_torch.py: --clock cpu needs --threads 1 (other threads' time would be "
                 "missed)")

    if args.worker:
        if args.torch_threads is None or args.blas_threads is None:
            sys.exit("--worker needs --torch-threads and --blas-threads")
        return worker(args)
    if args.check:
        env_ok = os.environ.get("OPENBLAS_NUM_THREADS") == "1"
        if not env_ok:   # re-run ourselves with a 1-thread environment
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                       MKL_NUM_THREADS="1")
            return subprocess.call([PYTHON, os.path.abspath(__file__), *sys.argv[1:]], env=env)
        return check(args)
    if args.all:
        for preset in PRESETS:
            for step in STEPS:
                for batch in BATCHES:
                    for threads in THREADS:
                        run_config(args, preset, step, batch, threads, search=True)
        return 0
    run_config(args, args.preset, args.step, args.batch, args.threads, args.search)
    return 0


if __name__ == "__main__":
    sys.exit(main())
