#!/usr/bin/env python3
"""The Python half of the safetensors export test (tests/export/).

An independent reader of a file export_reference wrote (Python's standard library and
NumPy only, no vaegan code): it parses and checks the safetensors layout, loads the
tensors, rebuilds the decoder and the encoder's mean head from the metadata's layer
lists (Dense, activations, Dropout, Flatten, Reshape, Conv2d, ConvTranspose2d and
BatchNorm1d/2d with PyTorch's semantics and tensor layouts, evaluation mode), runs them,
and compares with what the C++ trainer computed:

    decoder: sigmoid(decoder(z))  vs  generated.npy  (the trainer's generate(z))
    encoder: mu(images)           vs  mu.npy         (the trainer's encode(images))

usage: check_export.py --model DIR/model.safetensors --dir DIR [--tolerance 1e-5]
Exits 0 when every check passes, 1 otherwise (one line per failure on stderr).
"""
import argparse
import json
import struct
import sys

import numpy as np


class CheckFailed(Exception):
    pass


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


def read_safetensors(path):
    """(tensors by name as float32 arrays, metadata dict): checks the layout as it goes."""
    with open(path, "rb") as f:
        data = f.read()
    require(len(data) >= 8, f"{path}: {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    require(8 + n <= len(data), f"{path}: header length {n} runs past the end of the file ({len(data)} bytes)")
    require(n % 8 == 0, f"{path}: header length {n} is not a multiple of 8 (the reference writer pads it)")
    raw = data[8 : 8 + n]
    require(raw[:1] == b"{", f"{path}: the header does not start with '{{'")
    text = raw.decode("utf-8")
    stripped = text.rstrip(" ")
    require(stripped.endswith("}"), f"{path}: the header has something other than spaces after its JSON")
    require(len(text) - len(stripped) < 8, f"{path}: {len(text) - len(stripped)} padding spaces, expected fewer than 8")
    header = json.loads(stripped)
    metadata = header.pop("__metadata__", {})
    require(all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()),
            f"{path}: __metadata__ must map strings to strings")
    buffer = data[8 + n :]
    names = list(header)
    require(names == sorted(names, key=lambda s: s.encode("utf-8")), f"{path}: tensors are not in name order")
    tensors = {}
    expected_begin = 0
    for name in names:
        info = header[name]
        require(set(info) == {"dtype", "shape", "data_offsets"}, f"{path}: tensor {name}: keys {sorted(info)}")
        require(info["dtype"] == "F32", f"{path}: tensor {name}: dtype {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        require(begin == expected_begin, f"{path}: tensor {name} starts at {begin}, expected {expected_begin}")
        count = int(np.prod(info["shape"], dtype=np.int64))
        require(end - begin == 4 * count, f"{path}: tensor {name}: {end - begin} bytes for shape {info['shape']}")
        tensors[name] = np.frombuffer(buffer[begin:end], dtype="<f4").reshape(info["shape"])
        expected_begin = end
    require(expected_begin == len(buffer), f"{path}: {len(buffer) - expected_begin} bytes after the last tensor")
    return tensors, metadata


def activate(kind, attributes, x):
    if kind == "ReLU":
        return np.maximum(x, 0.0)
    if kind == "LeakyReLU":
        slope = float(attributes["negative_slope"])
        return np.where(x >= 0.0, x, slope * x)
    if kind == "Sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if kind == "Tanh":
        return np.tanh(x)
    if kind == "Softplus":
        return np.logaddexp(0.0, x)
    if kind == "Identity":
        return x
    raise CheckFailed(f"unknown activation {kind}")


def conv2d(x, w, b, stride, padding):
    """torch.nn.functional.conv2d: x [N, C, H, W], w [O, C, k, k] (cross-correlation)."""
    n, c, h, width = x.shape
    o, c_w, k, k2 = w.shape
    require(c == c_w and k == k2, f"conv2d: input channels {c}, weight {w.shape}")
    ho, wo = (h + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.zeros((n, o, ho, wo))
    for i in range(k):
        for j in range(k):
            window = xp[:, :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride]
            y += np.einsum("nchw,oc->nohw", window, w[:, :, i, j])
    return y + b.reshape(1, -1, 1, 1)


def conv_transpose2d(x, w, b, stride, padding, output_padding):
    """torch.nn.functional.conv_transpose2d: x [N, C, H, W], w [C, O, k, k]: every input
    pixel scatters its weighted kernel into the output, which is then cropped by `padding`."""
    n, c, h, width = x.shape
    c_w, o, k, k2 = w.shape
    require(c == c_w and k == k2, f"conv_transpose2d: input channels {c}, weight {w.shape}")
    ho = (h - 1) * stride - 2 * padding + k + output_padding
    wo = (width - 1) * stride - 2 * padding + k + output_padding
    full = np.zeros((n, o, max((h - 1) * stride + k, padding + ho), max((width - 1) * stride + k, padding + wo)))
    for i in range(k):
        for j in range(k):
            full[:, :, i : i + stride * (h - 1) + 1 : stride, j : j + stride * (width - 1) + 1 : stride] += np.einsum(
                "nchw,co->nohw", x, w[:, :, i, j])
    return full[:, :, padding : padding + ho, padding : padding + wo] + b.reshape(1, -1, 1, 1)


def batch_norm_eval(x, weight, bias, mean, var, eps):
    """torch.nn.BatchNorm{1,2}d in evaluation mode: the running statistics, per channel
    (axis 1 of [N, F] or [N, C, H, W])."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = weight / np.sqrt(var + eps)
    return (x - mean.reshape(shape)) * scale.reshape(shape) + bias.reshape(shape)


def run_layers(layers, x, tensors, network):
    """Evaluation-mode forward pass of a chain of layers (in float64)."""
    for layer in layers:
        kind, path = layer["type"], layer["path"]
        require(tuple(x.shape[1:]) == tuple(layer["input"]),
                f"{network}.{path}: input {x.shape[1:]}, the structure says {layer['input']}")
        if kind == "Dense":
            w = tensors[f"{network}.{path}.weight"].astype(np.float64)  # [out, in], as torch.nn.Linear
            b = tensors[f"{network}.{path}.bias"].astype(np.float64)
            require(w.shape == (int(layer["attributes"]["out"]), int(layer["attributes"]["in"])),
                    f"{network}.{path}.weight has shape {w.shape}, expected [out, in]")
            x = x @ w.T + b
            if "activation" in layer:
                x = activate(layer["activation"]["type"], layer["activation"]["attributes"], x)
        elif kind in ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus", "Identity"):
            x = activate(kind, layer["attributes"], x)
        elif kind == "Dropout":
            pass  # identity in evaluation mode
        elif kind == "Flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind == "Reshape":
            x = x.reshape((x.shape[0],) + tuple(layer["output"]))
        elif kind in ("Conv2d", "ConvTranspose2d"):
            a = layer["attributes"]
            w = tensors[f"{network}.{path}.weight"].astype(np.float64)
            b = tensors[f"{network}.{path}.bias"].astype(np.float64)
            k, stride, padding = int(a["kernel"]), int(a["stride"]), int(a["padding"])
            if kind == "Conv2d":  # weight [out, in, k, k], as torch.nn.Conv2d
                require(w.shape == (int(a["out"]), int(a["in"]), k, k), f"{network}.{path}.weight: shape {w.shape}")
                x = conv2d(x, w, b, stride, padding)
            else:  # weight [in, out, k, k], as torch.nn.ConvTranspose2d
                require(w.shape == (int(a["in"]), int(a["out"]), k, k), f"{network}.{path}.weight: shape {w.shape}")
                x = conv_transpose2d(x, w, b, stride, padding, int(a["output_padding"]))
        elif kind in ("BatchNorm1d", "BatchNorm2d"):
            prefix = f"{network}.{path}"
            require(tensors[f"{prefix}.num_batches_tracked"].shape == (1,) or
                    tensors[f"{prefix}.num_batches_tracked"].shape == (),
                    f"{prefix}.num_batches_tracked: shape {tensors[prefix + '.num_batches_tracked'].shape}")
            x = batch_norm_eval(x, *(tensors[f"{prefix}.{t}"].astype(np.float64)
                                     for t in ("weight", "bias", "running_mean", "running_var")),
                                float(layer["attributes"]["eps"]))
        else:
            raise CheckFailed(f"{network}.{path}: unknown layer type {kind}")
        require(tuple(x.shape[1:]) == tuple(layer["output"]),
                f"{network}.{path}: output {x.shape[1:]}, the structure says {layer['output']}")
    return x


def part(structure, prefix):
    return [l for l in structure["layers"] if l["path"] == prefix or l["path"].startswith(prefix + ".")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()
    try:
        tensors, metadata = read_safetensors(args.model)
        require(metadata.get("format") == "vaegan", f"metadata format is {metadata.get('format')!r}")
        require(metadata.get("vaegan.kind") == "vaegan", f"metadata vaegan.kind is {metadata.get('vaegan.kind')!r}")
        networks = metadata["vaegan.networks"].split(",")
        require(networks == ["encoder", "decoder", "discriminator"], f"vaegan.networks is {networks}")
        structures = {n: json.loads(metadata[f"vaegan.{n}.structure"]) for n in networks}
        # Every tensor the structures list is in the file with its shape, and nothing else is.
        listed = set()
        for n, s in structures.items():
            require(s["version"] == 1 and s["name"] == n, f"{n}: structure version {s['version']}, name {s['name']}")
            for p in s["parameters"] + s["buffers"]:
                require(p["tensor"] in tensors, f"{p['tensor']} is listed in the structure but not in the file")
                require(list(tensors[p["tensor"]].shape) == p["shape"], f"{p['tensor']}: shape differs from its entry")
                listed.add(p["tensor"])
        require(listed == set(tensors), f"tensors not in any structure: {sorted(set(tensors) - listed)}")

        failures = 0
        z = np.load(f"{args.dir}/z.npy").astype(np.float64)
        expected = np.load(f"{args.dir}/generated.npy").astype(np.float64)
        decoder = structures["decoder"]
        require(decoder["input"] == [z.shape[1]], f"decoder input {decoder['input']}, z is {z.shape}")
        images = 1.0 / (1.0 + np.exp(-run_layers(part(decoder, "net"), z, tensors, "decoder")))
        require(images.shape == expected.shape, f"decoder output {images.shape}, generate() gave {expected.shape}")
        diff = float(np.max(np.abs(images - expected)))
        ok = diff <= args.tolerance
        failures += not ok
        print(f"check_export: decoder: max abs diff vs generate() = {diff:.3g} over {expected.size} values "
              f"(tolerance {args.tolerance:g}): {'ok' if ok else 'FAIL'}")

        x = np.load(f"{args.dir}/images.npy").astype(np.float64)
        expected_mu = np.load(f"{args.dir}/mu.npy").astype(np.float64)
        encoder = structures["encoder"]
        h = run_layers(part(encoder, "trunk"), x, tensors, "encoder")
        mu = run_layers(part(encoder, "mu"), h, tensors, "encoder")
        diff = float(np.max(np.abs(mu - expected_mu)))
        ok = diff <= args.tolerance
        failures += not ok
        print(f"check_export: encoder: max abs diff vs encode() = {diff:.3g} over {expected_mu.size} values "
              f"(tolerance {args.tolerance:g}): {'ok' if ok else 'FAIL'}")
        print(f"check_export: {len(tensors)} tensors, {sum(t.size for t in tensors.values())} parameters read")
        if failures:
            print(f"check_export: {failures} comparison(s) over the tolerance", file=sys.stderr)
            return 1
        return 0
    except (CheckFailed, KeyError, ValueError, OSError) as e:
        print(f"check_export: FAIL: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
