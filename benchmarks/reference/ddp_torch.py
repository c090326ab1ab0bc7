#!/usr/bin/python3
"""PyTorch's DistributedDataParallel (gloo backend) on the reference workloads: the peer of
bench_data_parallel (benchmarks/data_parallel.cpp) for docs/distributed.md.

Each of --ranks processes runs one thread (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = 1,
checked) and trains on --batch images per step (weak scaling, as bench_data_parallel).
Every network is its own DistributedDataParallel module; each loss reaches only its
networks through loss.backward(inputs=...), so DDP's gradient hooks fire once per network
per step and its bucketed allreduce overlaps the rest of the backward, as DDP does. The
presets and steps are step_torch.py's (the same networks, losses and stacking).

    /usr/bin/python3 benchmarks/reference/ddp_torch.py --preset mlp --step vaegan --batch 64 --ranks 2

Prints one JSON line, in bench_data_parallel's format with "impl":"pytorch-ddp".
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import step_torch  # noqa: E402  (presets and models; imports torch lazily)


def worker(rank, args, port, out_queue):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=args.ranks)
    F = torch.nn.functional
    B = args.batch
    torch.manual_seed(0)  # the same initial weights on every rank (DDP broadcasts rank 0's anyway)
    enc, dec, disc = step_torch.build_models(torch, args.preset)
    latent = step_torch.PRESETS[args.preset]["latent"]
    gen = torch.Generator().manual_seed(1 + rank)
    x = torch.rand(B, *step_torch.image_shape(args.preset), generator=gen)
    ones, zeros = torch.ones(B, 1), torch.zeros(B, 1)
    bce = F.binary_cross_entropy_with_logits
    adam = dict(lr=2e-4, betas=(0.5, 0.999), eps=1e-8, foreach=True)

    def rec(logits, x):
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / B

    def kl(mu, logvar):
        return -0.5 * torch.sum(1.0 + logvar - mu * mu - logvar.exp()) / B

    if args.step == "gan":
        G, D = DDP(dec), DDP(disc)
        opts = [torch.optim.Adam(D.parameters(), **adam), torch.optim.Adam(G.parameters(), **adam)]
        pD, pG = list(D.parameters()), list(G.parameters())
        targets = torch.cat([ones, zeros])

        def run():
            for o in opts:
                o.zero_grad(set_to_none=True)
            x_f = G(torch.randn(B, latent))
            d = D(torch.cat([x, torch.sigmoid(x_f)]))
            loss_d = bce(d, targets) * 2.0
            loss_g = bce(d[B:], ones)
            loss_d.backward(inputs=pD, retain_graph=True)
            loss_g.backward(inputs=pG)
            for o in opts:
                o.step()
    elif args.step == "vae":
        E, Dec = DDP(enc), DDP(dec)
        opts = [torch.optim.Adam(E.parameters(), **adam), torch.optim.Adam(Dec.parameters(), **adam)]

        def run():
            for o in opts:
                o.zero_grad(set_to_none=True)
            mu, logvar = E(x)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            loss = rec(Dec(z), x) + kl(mu, logvar)
            loss.backward()
            for o in opts:
                o.step()
    else:
        E, Dec, D = DDP(enc), DDP(dec), DDP(disc)
        opts = [torch.optim.Adam(m.parameters(), **adam) for m in (D, E, Dec)]
        pE, pDec, pD = list(E.parameters()), list(Dec.parameters()), list(D.parameters())
        ones2 = torch.ones(2 * B, 1)
        targets = torch.cat([ones, zeros, zeros])

        def run():
            for o in opts:
                o.zero_grad(set_to_none=True)
            mu, logvar = E(x)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            logits = Dec(torch.cat([z, torch.randn(B, latent)]))  # one decoder pass, 2B rows
            x_r = logits[:B]
            d = D(torch.cat([x, torch.sigmoid(logits)]))
            l_rec = rec(x_r, x)
            loss_d = bce(d, targets) * 3.0
            loss_e = kl(mu, logvar) + l_rec
            loss_dec = l_rec + bce(d[B:], ones2) * 2.0
            loss_d.backward(inputs=pD, retain_graph=True)
            loss_e.backward(inputs=pE, retain_graph=True)
            loss_dec.backward(inputs=pDec)
            for o in opts:
                o.step()

    def timed(steps):
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(steps):
            run()
        dist.barrier()
        return (time.perf_counter() - t0) / steps

    timed(args.warmup)
    per_step = sorted(timed(args.steps) for _ in range(args.repeats))
    if rank == 0:
        med = statistics.median(per_step)
        out_queue.put({
            "impl": "pytorch-ddp", "preset": args.preset, "step": args.step, "ranks": args.ranks,
            "batch_per_rank": B, "threads_per_rank": torch.get_num_threads(), "steps": args.steps,
            "repeats": args.repeats, "median_ms": round(med * 1e3, 4), "min_ms": round(per_step[0] * 1e3, 4),
            "steps_per_s": round(1.0 / med, 3), "images_per_s": round(B * args.ranks / med, 1),
        })
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="mlp", choices=sorted(step_torch.PRESETS))
    ap.add_argument("--step", default="vaegan", choices=step_torch.STEPS)
    ap.add_argument("--batch", type=int, default=64, help="images per process per step")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--port", type=int, default=29517)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # before torch loads, in this process and the workers it starts
    import torch.multiprocessing as mp
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, args, args.port, queue)) for r in range(args.ranks)]
    for p in procs:
        p.start()
    result = queue.get()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"ddp_torch.py: rank process exited with {p.exitcode}")
    print(json.dumps(result, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
