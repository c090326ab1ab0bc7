#!/usr/bin/python3
"""Matches vaegan's Conv2d, ConvTranspose2d, BatchNorm1d and BatchNorm2d against PyTorch.

On fixed parameters and inputs, every case runs one network of vaegan layers and the same
network of torch.nn layers, forward in train or eval mode, then backward of the fixed
weighted sum L = sum(y * R), and compares:

    y             the output
    dx            dL/dx, the input gradient
    d<param>      dL/d(every weight and bias), PyTorch's names (vaegan's are "net." + them)
    <buffer>      the batch-norm buffers after the forward (running_mean, running_var,
                  num_batches_tracked: train mode updates them, eval mode must not)

The cases: Conv2d and ConvTranspose2d with a 1x1 kernel, stride greater than the kernel,
padding 0, 1 and 2 (also more than half the kernel), odd and non-square images, a kernel
as large as the image, output_padding 1 and 2, batch 1, several channels, the `conv`
preset's own layer shapes (each in train and eval mode: a convolution has no mode);
BatchNorm1d and BatchNorm2d in train and eval mode, with batch 1 (eval; BatchNorm2d also
trains on one image of several pixels), two values per channel, other eps and momentum
(1.0 too), running statistics that start away from 0 and 1; and the `conv` preset's
discriminator and decoder whole (Conv/ConvT, BatchNorm, LeakyReLU/ReLU, Flatten/Reshape,
Linear).

vaegan's side is benchmarks/reference/match_dump.cpp, which this script compiles with g++
(the flags of the in-tree executables: C++17, -O2, OpenMP, -march=native unless
--no-native) into a temporary directory and runs. It runs in double and in float on the
same inputs, every value of which is a float, so all sides start from identical numbers;
the reference is PyTorch in float64.

The error of a tensor is max|ours - torch| / max|torch|. Two exceptions:
  - in train mode the bias of a layer right before a batch norm has a gradient of exactly
    zero in exact arithmetic (the norm subtracts the batch mean, and the bias with it), so
    both sides hold rounding noise there; its error is relative to the case's largest
    parameter gradient instead;
  - float passes at 1e-4, or when no worse than 10x PyTorch's own float32 error on the same
    inputs (computed here too): a batch norm over two values per channel has an input
    gradient that is a cancellation of order eps / var, where float keeps ~3 digits.
Double must match to a relative 1e-10.

    /usr/bin/python3 benchmarks/reference/match_torch.py              # table, exit 1 on mismatch
    /usr/bin/python3 benchmarks/reference/match_torch.py --verbose    # one row per tensor

Needs Debian's python3-torch (/usr/bin/python3), g++, Eigen (libeigen3-dev), stb
(libstb-dev) and zlib (zlib1g-dev), as the library's build does.
"""
import argparse
import array
import copy
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SOURCE = os.path.join(HERE, "match_dump.cpp")
TOLERANCE = {"double": 1e-10, "float": 1e-4}
F32_SLACK = 10.0    # float: also passes within this factor of PyTorch's own float32 error

# ---------------------------------------------------------------------------------------
# The cases: (name, mode, batch, sample shape, layers). Layers as match_dump.cpp reads them.
# ---------------------------------------------------------------------------------------
BN = (1e-5, 0.1)   # PyTorch's defaults: eps, momentum


def conv_cases():
    """(name, batch, sample, layers) of the single-convolution cases."""
    c2 = lambda *a: [("conv2d",) + a]   # noqa: E731  in, out, kernel, stride, padding
    ct = lambda *a: [("convT",) + a]    # noqa: E731  ..., output_padding
    return [
        ("conv2d 1x1 kernel", 2, (3, 7, 6), c2(3, 5, 1, 1, 0)),
        ("conv2d k3 s1 p1", 3, (2, 5, 5), c2(2, 4, 3, 1, 1)),
        ("conv2d k2 s3 (stride > kernel)", 2, (3, 8, 11), c2(3, 2, 2, 3, 0)),
        ("conv2d k5 s2 p2, odd 9x7", 2, (2, 9, 7), c2(2, 3, 5, 2, 2)),
        ("conv2d k3 s1 p2 (padding > k/2)", 2, (2, 4, 5), c2(2, 3, 3, 1, 2)),
        ("conv2d kernel = image, 1x1 out", 3, (2, 5, 5), c2(2, 3, 5, 1, 0)),
        ("conv2d batch 1, k3 s2 p1", 1, (4, 9, 9), c2(4, 3, 3, 2, 1)),
        ("conv2d 1->8 k4 s2 p1, 28x28", 2, (1, 28, 28), c2(1, 8, 4, 2, 1)),
        ("conv2d 32->64 k4 s2 p1, 14x14", 2, (32, 14, 14), c2(32, 64, 4, 2, 1)),
        ("convT 1x1 kernel", 2, (3, 5, 6), ct(3, 4, 1, 1, 0, 0)),
        ("convT k3 s1 p0", 2, (2, 3, 3), ct(2, 3, 3, 1, 0, 0)),
        ("convT k3 s2 p1 op1, 4x5", 2, (2, 4, 5), ct(2, 3, 3, 2, 1, 1)),
        ("convT k2 s3 (stride > kernel)", 2, (3, 3, 4), ct(3, 2, 2, 3, 0, 0)),
        ("convT k2 s3 op2", 2, (3, 3, 4), ct(3, 2, 2, 3, 0, 2)),
        ("convT k5 s2 p2 op1", 3, (2, 3, 3), ct(2, 2, 5, 2, 2, 1)),
        ("convT k3 s1 p2 (crops)", 2, (2, 5, 4), ct(2, 3, 3, 1, 2, 0)),
        ("convT batch 1, k4 s2 p1", 1, (4, 5, 5), ct(4, 3, 4, 2, 1, 0)),
        ("convT 64->32 k4 s2 p1, 7x7", 2, (64, 7, 7), ct(64, 32, 4, 2, 1, 0)),
        ("convT 32->1 k4 s2 p1, 14x14", 2, (32, 14, 14), ct(32, 1, 4, 2, 1, 0)),
    ]


def all_cases():
    cases = []
    for name, batch, sample, layers in conv_cases():
        for mode in ("train", "eval"):
            cases.append((name, mode, batch, sample, layers))
    bn2 = lambda c, eps=BN[0], mom=BN[1]: [("bn2d", c, eps, mom)]  # noqa: E731
    bn1 = lambda f, eps=BN[0], mom=BN[1]: [("bn1d", f, eps, mom)]  # noqa: E731
    cases += [
        ("BatchNorm2d", "train", 4, (3, 5, 3), bn2(3)),
        ("BatchNorm2d", "eval", 4, (3, 5, 3), bn2(3)),
        ("BatchNorm2d batch 1 (3x3 pixels)", "train", 1, (2, 3, 3), bn2(2)),
        ("BatchNorm2d batch 1", "eval", 1, (2, 3, 3), bn2(2)),
        ("BatchNorm2d 1x1 pixels, batch 2", "train", 2, (3, 1, 1), bn2(3)),
        ("BatchNorm2d eps 1e-3 momentum 0.3", "train", 3, (4, 2, 2), bn2(4, 1e-3, 0.3)),
        ("BatchNorm1d", "train", 5, (4,), bn1(4)),
        ("BatchNorm1d", "eval", 5, (4,), bn1(4)),
        ("BatchNorm1d batch 1", "eval", 1, (4,), bn1(4)),
        ("BatchNorm1d batch 2", "train", 2, (6,), bn1(6)),
        ("BatchNorm1d momentum 1", "train", 6, (3,), bn1(3, 1e-5, 1.0)),
    ]
    # The `conv` preset's discriminator and decoder (docs/reference-workloads.md).
    disc = [("conv2d", 1, 32, 4, 2, 1), ("lrelu", 0.2), ("conv2d", 32, 64, 4, 2, 1),
            ("bn2d", 64) + BN, ("lrelu", 0.2), ("flatten",), ("linear", 3136, 1)]
    dec = [("linear", 32, 3136), ("bn1d", 3136) + BN, ("relu",), ("reshape", 3, 64, 7, 7),
           ("convT", 64, 32, 4, 2, 1, 0), ("bn2d", 32) + BN, ("relu",),
           ("convT", 32, 1, 4, 2, 1, 0)]
    cases += [
        ("conv preset discriminator", "train", 4, (1, 28, 28), disc),
        ("conv preset discriminator", "eval", 1, (1, 28, 28), disc),
        ("conv preset decoder", "train", 4, (32,), dec),
        ("conv preset decoder", "eval", 1, (32,), dec),
    ]
    return cases


def spec_text(cases):
    out = []
    for i, (name, mode, batch, sample, layers) in enumerate(cases):
        out.append(f"case c{i} {mode} {batch} {len(sample)} " + " ".join(map(str, sample)))
        for layer in layers:
            out.append("layer " + " ".join(repr(a) if isinstance(a, float) else str(a)
                                           for a in layer))
        out.append("end")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# PyTorch side
# ---------------------------------------------------------------------------------------
def torch_layer(torch, layer):
    nn = torch.nn
    kind, a = layer[0], layer[1:]
    if kind == "conv2d":
        return nn.Conv2d(a[0], a[1], a[2], a[3], a[4])
    if kind == "convT":
        return nn.ConvTranspose2d(a[0], a[1], a[2], a[3], a[4], output_padding=a[5])
    if kind == "bn1d":
        return nn.BatchNorm1d(a[0], eps=a[1], momentum=a[2])
    if kind == "bn2d":
        return nn.BatchNorm2d(a[0], eps=a[1], momentum=a[2])
    if kind == "linear":
        return nn.Linear(a[0], a[1])
    if kind == "lrelu":
        return nn.LeakyReLU(a[0])
    if kind == "relu":
        return nn.ReLU()
    if kind == "flatten":
        return nn.Flatten()
    if kind == "reshape":
        return nn.Unflatten(1, tuple(a[1:1 + a[0]]))
    raise ValueError(kind)


def as_float(torch, t):
    """t rounded to float32 and back: a value both sides hold exactly."""
    return t.float().double()


def build_case(torch, index, case):
    """The torch network with its fixed parameters and buffers, x and R (all float64)."""
    name, mode, batch, sample, layers = case
    torch.manual_seed(1000 + index)
    net = torch.nn.Sequential(*[torch_layer(torch, l) for l in layers]).double()
    g = torch.Generator().manual_seed(2000 + index)
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g, dtype=torch.float64))
                m.bias.copy_(0.5 * torch.randn(c, generator=g, dtype=torch.float64))
                m.running_mean.copy_(torch.randn(c, generator=g, dtype=torch.float64))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g, dtype=torch.float64))
                m.num_batches_tracked.fill_(3)
        for p in net.parameters():
            p.copy_(as_float(torch, p))
        for b in net.buffers():
            if b.is_floating_point():
                b.copy_(as_float(torch, b))
    x = 0.3 + 1.5 * torch.randn((batch,) + tuple(sample), generator=g, dtype=torch.float64)
    x = as_float(torch, x)
    with torch.no_grad():
        y_shape = net.eval()(x).shape
    r = as_float(torch, torch.randn(y_shape, generator=g, dtype=torch.float64))
    return net, x, r


def torch_run(torch, net, mode, x, r):
    """{"y", "dx", "d<param>", "<buffer>": float64 tensor} of one forward and backward."""
    net.train(mode == "train")
    xg = x.clone().requires_grad_(True)
    for p in net.parameters():
        p.grad = None
    y = net(xg)
    (y * r).sum().backward()
    res = {"y": y.detach().double(), "dx": xg.grad.detach().double()}
    for n, p in net.named_parameters():
        res["d" + n] = p.grad.detach().double()
    for n, b in net.named_buffers():
        res[n] = b.detach().double()
    return res


def structural_zeros(layers):
    """Gradients that are exactly zero in exact arithmetic in train mode: the bias of a
    layer right before a batch norm (the norm subtracts the batch mean, the bias with it)."""
    out = set()
    for i, layer in enumerate(layers[:-1]):
        if layer[0] in ("conv2d", "convT", "linear") and layers[i + 1][0] in ("bn1d", "bn2d"):
            out.add(f"d{i}.bias")
    return out


# ---------------------------------------------------------------------------------------
# vaegan side
# ---------------------------------------------------------------------------------------
def compile_dump(workdir, native):
    exe = os.path.join(workdir, "match_dump")
    cmd = ["g++", "-std=c++17", "-O2", "-fopenmp"]
    if native:
        cmd.append("-march=native")
    cmd += ["-Wall", "-Wextra", "-Wno-uninitialized", "-Wno-maybe-uninitialized",
            "-I" + os.path.join(REPO, "include"), "-isystem", "/usr/include/eigen3",
            "-isystem", "/usr/include/stb", SOURCE, "-o", exe, "-lz"]
    print("[match] compiling: " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit(f"match_torch.py: compiling match_dump.cpp failed:\n{p.stdout}")
    return exe


def parse_layout(text):
    """{case id: {"out": shape, "params": [(name, offset, numel, layout, shape)],
    "buffers": [(name, offset, numel, shape)]}}"""
    layout, cur = {}, None
    for line in text.splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "case":
            cur = {"out": tuple(int(v) for v in w[3:3 + int(w[2])]), "params": [], "buffers": []}
            layout[w[1]] = cur
        elif w[0] == "param":
            shape = tuple(int(v) for v in w[6:6 + int(w[5])])
            cur["params"].append((w[1], int(w[2]), int(w[3]), w[4], shape))
        elif w[0] == "buffer":
            shape = tuple(int(v) for v in w[5:5 + int(w[4])])
            cur["buffers"].append((w[1], int(w[2]), int(w[3]), shape))
        elif w[0] == "end":
            cur = None
    return layout


def strip_net(name):
    if not name.startswith("net."):
        raise ValueError(name)
    return name[len("net."):]


def ours_layout(torch_t, layout):
    """A torch parameter as vaegan stores it: the same, or a Linear weight transposed."""
    return torch_t.t() if layout == "transposed" else torch_t


# ---------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default="double,float",
                    help="vaegan's scalar types to run, comma list (default double,float)")
    ap.add_argument("--threads", type=int, default=2,
                    help="OpenMP threads for vaegan (default 2)")
    ap.add_argument("--no-native", action="store_true", help="compile without -march=native")
    ap.add_argument("--binary", help="use this match_dump binary instead of compiling one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--verbose", action="store_true", help="one row per tensor")
    args = ap.parse_args()
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    for t in types:
        if t not in TOLERANCE:
            sys.exit(f"match_torch.py: unknown type {t!r}")

    import torch
    torch.set_num_threads(1)
    cases = all_cases()
    workdir = tempfile.mkdtemp(prefix="vaegan-match-")
    try:
        exe = args.binary or compile_dump(workdir, not args.no_native)
        spec = os.path.join(workdir, "spec.txt")
        with open(spec, "w") as f:
            f.write(spec_text(cases))
        p = subprocess.run([exe, "layout", spec], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        if p.returncode != 0:
            sys.exit(f"match_torch.py: match_dump layout failed:\n{p.stderr}")
        layout = parse_layout(p.stdout)

        # Fixed parameters, inputs and torch's results; the data file for vaegan.
        problems = []
        built = []
        data = array.array("d")
        for i, case in enumerate(cases):
            cid = f"c{i}"
            net, x, r = build_case(torch, i, case)
            lay = layout[cid]
            tparams = dict(net.named_parameters())
            tbufs = dict(net.named_buffers())
            names = [strip_net(n) for n, *_ in lay["params"]]
            bnames = [strip_net(n) for n, *_ in lay["buffers"]]
            if names != list(tparams) or bnames != list(tbufs):
                problems.append(f"{case[0]}: names differ: vaegan {names + bnames}, "
                                f"torch {list(tparams) + list(tbufs)}")
                built.append(None)
                continue
            if lay["out"] != tuple(r.shape[1:]):
                problems.append(f"{case[0]}: output sample {lay['out']} vs torch {tuple(r.shape[1:])}")
                built.append(None)
                continue
            flat = [0.0] * sum(n for _, _, n, _, _ in lay["params"])
            for (name, off, n, lt, shape) in lay["params"]:
                t = ours_layout(tparams[strip_net(name)].detach(), lt)
                if tuple(t.shape) != shape:
                    problems.append(f"{case[0]}: {name} shape {shape} vs torch {tuple(t.shape)}")
                flat[off:off + n] = t.reshape(-1).tolist()
            bflat = [0.0] * sum(n for _, _, n, _ in lay["buffers"])
            for (name, off, n, shape) in lay["buffers"]:
                bflat[off:off + n] = tbufs[strip_net(name)].double().reshape(-1).tolist()
            data.extend(flat)
            data.extend(bflat)
            data.extend(x.reshape(-1).tolist())
            data.extend(r.reshape(-1).tolist())
            net32 = copy.deepcopy(net).float()
            ref = torch_run(torch, net, case[1], x, r)
            ref32 = torch_run(torch, net32, case[1], x.float(), r.float())
            built.append((lay, x, r, ref, ref32))
        if problems:
            for pr in problems:
                print("MISMATCH (layout): " + pr)
            return 1
        data_path = os.path.join(workdir, "data.bin")
        with open(data_path, "wb") as f:
            data.tofile(f)

        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        failed = 0
        for typ in types:
            out_path = os.path.join(workdir, f"out-{typ}.bin")
            p = subprocess.run([exe, "run", typ, spec, data_path, out_path], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                sys.exit(f"match_torch.py: match_dump run {typ} failed:\n{p.stderr}")
            out = array.array("d")
            with open(out_path, "rb") as f:
                out.frombytes(f.read())
            failed += report(torch, cases, built, out, typ, args)
        print()
        if failed:
            print(f"match_torch.py: {failed} tensor(s) differ from PyTorch beyond the tolerance")
            return 1
        print(f"match_torch.py: all {len(cases)} cases x {len(types)} type(s) match PyTorch "
              f"({', '.join(f'{t} {TOLERANCE[t]:g}' for t in types)})")
        return 0
    finally:
        if args.keep:
            print(f"[match] kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def unpack(torch, lay, x, r, out, pos):
    """match_dump's results for one case, keyed as torch_run's; and the next position."""
    def take(n):
        nonlocal pos
        v = torch.tensor(out[pos:pos + n], dtype=torch.float64)
        pos += n
        return v
    res = {"y": take(r.numel()).reshape(r.shape), "dx": take(x.numel()).reshape(x.shape)}
    grads = take(sum(n for _, _, n, _, _ in lay["params"]))
    for (name, off, n, lt, shape) in lay["params"]:
        g = grads[off:off + n].reshape(shape)
        res["d" + strip_net(name)] = g.t() if lt == "transposed" else g
    bufs = take(sum(n for _, _, n, _ in lay["buffers"]))
    for (name, off, n, shape) in lay["buffers"]:
        res[strip_net(name)] = bufs[off:off + n].reshape(shape)
    return res, pos


def errors(got, ref, zeros):
    """{key: (max |ref|, max abs error, relative error)}; see the module docstring."""
    gmax = max((float(v.abs().max()) for k, v in ref.items()
                if k.startswith("d") and k != "dx" and v.numel()), default=0.0)
    out = {}
    for k, want in ref.items():
        have = got[k].reshape(want.shape)
        rmax = float(want.abs().max()) if want.numel() else 0.0
        abs_err = float((have - want).abs().max()) if want.numel() else 0.0
        scale = gmax if k in zeros else rmax
        out[k] = (rmax, abs_err, abs_err / max(scale, 1e-300))
    return out


def report(torch, cases, built, out, typ, args):
    """Compares one run's output with torch's; prints the table; returns the failures."""
    tol = TOLERANCE[typ]
    pos = 0
    print()
    print(f"### vaegan {typ} vs PyTorch float64 (relative tolerance {tol:g}"
          + (f", or at most {F32_SLACK:g}x PyTorch's own float32 error" if typ == "float" else "")
          + f"; vaegan on {args.threads} thread(s))")
    print()
    if args.verbose:
        print("| case | mode | tensor | shape | max abs torch | max abs error | rel. error "
              + ("| PyTorch float32 rel. error " if typ == "float" else "") + "| |")
        print("|---|---|---|---|---:|---:|---:|" + ("---:|" if typ == "float" else "") + "---|")
    else:
        print("| case | mode | x -> y | y | dx | d(params) worst | buffers worst | |")
        print("|---|---|---|---:|---:|---:|---:|---|")
    failures = 0
    for case, b in zip(cases, built):
        name, mode, batch, sample, layers = case
        lay, x, r, ref, ref32 = b
        got, pos = unpack(torch, lay, x, r, out, pos)
        zeros = structural_zeros(layers) if mode == "train" else set()
        errs = errors(got, ref, zeros)
        errs32 = errors(ref32, ref, zeros) if typ == "float" else {}

        def ok(k):
            rel = errs[k][2]
            if rel <= tol:
                return True
            return typ == "float" and rel <= F32_SLACK * errs32[k][2]

        bad = [k for k in errs if not ok(k)]
        failures += len(bad)
        if args.verbose:
            for k, (rmax, a, rel) in errs.items():
                mark = "ok" if ok(k) else "**MISMATCH**"
                if k in zeros:
                    mark += " (zero in exact arithmetic: relative to the largest gradient)"
                t32 = f"{errs32[k][2]:.2e} | " if typ == "float" else ""
                print(f"| {name} | {mode} | {k} | {list(ref[k].shape)} | {rmax:.3g} | {a:.2e} | "
                      f"{rel:.2e} | {t32}{mark} |")
        else:
            def worst(sel):
                rs = [v[2] for k, v in errs.items() if sel(k)]
                return f"{max(rs):.1e}" if rs else "-"
            is_grad = lambda k: k.startswith("d") and k != "dx"  # noqa: E731
            is_buf = lambda k: k not in ("y", "dx") and not is_grad(k)  # noqa: E731
            shapes = (f"[{batch}, {', '.join(map(str, sample))}] -> "
                      f"[{', '.join(map(str, r.shape))}]")
            mark = "ok"
            if bad:
                mark = "**MISMATCH: " + ", ".join(f"{k} {errs[k][2]:.1e}" for k in bad) + "**"
            elif any(errs[k][2] > tol for k in errs):
                mark = "ok (" + ", ".join(
                    f"{k}: PyTorch float32 {errs32[k][2]:.1e}" for k in errs
                    if errs[k][2] > tol) + ")"
            print(f"| {name} | {mode} | {shapes} | {worst(lambda k: k == 'y')} | "
                  f"{worst(lambda k: k == 'dx')} | {worst(is_grad)} | {worst(is_buf)} | {mark} |")
    if pos != len(out):
        print(f"match_torch.py: {len(out) - pos} values left over in match_dump's output")
        failures += 1
    return failures


if __name__ == "__main__":
    sys.exit(main())
