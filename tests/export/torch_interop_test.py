#!/usr/bin/env python3
"""PyTorch interop, end to end (tests/export/): vaegan's exports as torch.nn modules, and back.

  torch_interop_test.py --reference EXPORT_REFERENCE --export-cli VAEGAN_EXPORT --import-cli VAEGAN_IMPORT --work DIR

export_reference writes five trained VAE-GANs (two composed ones with every layer type, and
the seed, mlp and conv presets), each with fixed latent codes and images and what the C++
trainer computed from them. For each, scripts/vaegan_torch.py rebuilds the networks as
torch.nn modules from the file's metadata and loads the weights with strict=True; then
  * sigmoid(decoder(z)) must match the trainer's generate(z), and the encoder's mu its
    encode(images), to 1e-5 (eval mode: batch norm on the running statistics);
  * the modules are trained one SGD step in PyTorch on a reconstruction loss, saved with
    vaegan_torch.save, put into the run's checkpoint with vaegan import, and exported again
    with vaegan export: every tensor must come back as PyTorch held it, bit for bit.
Needs Python 3 with NumPy and PyTorch (Debian: python3-torch).
"""
import argparse
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import vaegan_torch  # noqa: E402

TOLERANCE = 1e-5
MODELS = ["", "conv", "preset-seed", "preset-mlp", "preset-conv"]


def fail(message):
    print(f"torch_interop_test: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def run(command):
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        fail(f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def compare_outputs(directory, nets):
    z = torch.from_numpy(np.load(os.path.join(directory, "z.npy")))
    images = torch.from_numpy(np.load(os.path.join(directory, "images.npy")))
    with torch.no_grad():
        generated = torch.sigmoid(nets["decoder"](z)).numpy()
        mu, _ = nets["encoder"](images)
    for what, ours, theirs in (("decoder", generated, np.load(os.path.join(directory, "generated.npy"))),
                               ("encoder mu", mu.numpy(), np.load(os.path.join(directory, "mu.npy")))):
        if ours.shape != theirs.shape:
            fail(f"{directory}: {what}: PyTorch gives {ours.shape}, vaegan {theirs.shape}")
        diff = float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64))))
        if not diff <= TOLERANCE:
            fail(f"{directory}: {what}: PyTorch and vaegan differ by {diff:.3g} (tolerance {TOLERANCE})")
        print(f"torch_interop_test: {os.path.basename(directory) or 'dense'}: {what} agrees to {diff:.2g}")


def train_one_step(directory, nets):
    """One SGD step of every network on a reconstruction loss, in train mode (so batch norm's
    running statistics move too)."""
    images = torch.from_numpy(np.load(os.path.join(directory, "images.npy")))
    params = [p for net in nets.values() for p in net.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.05)
    for net in nets.values():
        net.train()
    mu, _ = nets["encoder"](images)
    recon = nets["decoder"](mu)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(recon, images)
    loss = loss + nets["discriminator"](images).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for net in nets.values():
        net.eval()


def roundtrip(args, directory, nets):
    model = os.path.join(directory, "model.safetensors")
    tuned = os.path.join(directory, "torch.safetensors")
    vaegan_torch.save(nets, tuned, like=model)
    imported = os.path.join(directory, "imported.bin")
    run([args.import_cli, "import", "--checkpoint", os.path.join(directory, "checkpoint.bin"), "--weights", tuned, "--save",
         imported, "--reset-optimizer"])
    back = os.path.join(directory, "back.safetensors")
    run([args.export_cli, "export", "--checkpoint", imported, "--safetensors", back])
    saved, _ = vaegan_torch.read_safetensors(tuned)
    returned, _ = vaegan_torch.read_safetensors(back)
    if set(saved) != set(returned):
        fail(f"{directory}: tensors differ: {sorted(set(saved) ^ set(returned))[:5]}")
    for name in saved:
        if saved[name].shape != returned[name].shape or saved[name].tobytes() != returned[name].tobytes():
            fail(f"{directory}: tensor {name} did not come back from vaegan as PyTorch saved it")
    changed = sum(1 for name in saved if name.endswith("weight"))
    print(f"torch_interop_test: {os.path.basename(directory) or 'dense'}: {len(saved)} tensors trained in PyTorch "
          f"went through vaegan import and vaegan export bit for bit ({changed} weights)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", required=True)
    ap.add_argument("--export-cli", required=True)
    ap.add_argument("--import-cli", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    run([args.reference, args.work])
    for sub in MODELS:
        directory = os.path.join(args.work, sub)
        nets = vaegan_torch.load(os.path.join(directory, "model.safetensors"))
        compare_outputs(directory, nets)
        before = {k: v.clone() for k, v in nets["decoder"].state_dict().items()}
        train_one_step(directory, nets)
        if all(torch.equal(before[k], v) for k, v in nets["decoder"].state_dict().items()):
            fail(f"{directory}: the PyTorch step changed nothing")
        roundtrip(args, directory, nets)
    print("torch_interop_test: passed")


if __name__ == "__main__":
    main()
