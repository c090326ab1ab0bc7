"""vaegan_torch: vaegan's safetensors exports as torch.nn modules, and back.

    import torch, vaegan_torch
    nets = vaegan_torch.load("model.safetensors")     # {"encoder": ..., "decoder": ..., "discriminator": ...}
    images = torch.sigmoid(nets["decoder"](torch.randn(16, 32)))     # [16, C, H, W] in [0, 1]
    mu, logvar = nets["encoder"](images)
    ... train or edit them in PyTorch ...
    vaegan_torch.save(nets, "tuned.safetensors", like="model.safetensors")
    # then: vaegan import --checkpoint run/checkpoint.vgck --weights tuned.safetensors --save ...

Each network is rebuilt from the file's "vaegan.<network>.structure" metadata (the schema of
docs/safetensors.md): Dense (torch.nn.Linear, with its declared activation), Conv2d,
ConvTranspose2d, BatchNorm1d/2d, ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, Identity,
Dropout, Flatten and Reshape, at the paths vaegan names its parameters by, so the state
dict's keys are vaegan's ("net.0.weight") and the weights load with strict=True. An
encoder returns (mu, logvar), a decoder or generator logits, a discriminator one logit per
image. Modules are float32 and in eval mode after load(); train() works as in PyTorch.

Standard library, NumPy and PyTorch only. Tested by tests/export/ (torch_interop) where
Debian's python3-torch is installed.
"""
import collections
import json
import struct

import numpy as np
import torch
from torch import nn

__all__ = ["read_safetensors", "write_safetensors", "build", "load", "save"]

_DTYPES = {"F32": "<f4", "F64": "<f8"}


def read_safetensors(path):
    """({name: float array}, metadata) of a safetensors file of F32/F64 tensors."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}; vaegan_torch reads F32 and F64")
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array} as F32 tensors in name order (the header padded to 8 bytes)."""
    names = sorted(tensors, key=lambda s: s.encode("utf-8"))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in names:
        blob = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(tensors[name])), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text.encode("utf-8") + b"".join(blobs))


def _activation(kind, attributes):
    if kind == "ReLU":
        return nn.ReLU()
    if kind == "LeakyReLU":
        return nn.LeakyReLU(float(attributes["negative_slope"]))
    if kind == "Sigmoid":
        return nn.Sigmoid()
    if kind == "Tanh":
        return nn.Tanh()
    if kind == "Softplus":
        return nn.Softplus()
    if kind == "Identity":
        return nn.Identity()
    return None


def _layer(layer):
    """(the torch module for one layer of a structure document, its declared activation or None)."""
    kind, a = layer["type"], layer["attributes"]
    act = _activation(kind, a)
    if act is not None:
        return act, None
    if kind == "Dense":
        declared = layer.get("activation")
        post = _activation(declared["type"], declared["attributes"]) if declared else None
        return nn.Linear(int(a["in"]), int(a["out"])), post
    if kind == "Conv2d":
        return nn.Conv2d(int(a["in"]), int(a["out"]), int(a["kernel"]), int(a["stride"]), int(a["padding"])), None
    if kind == "ConvTranspose2d":
        return nn.ConvTranspose2d(int(a["in"]), int(a["out"]), int(a["kernel"]), int(a["stride"]), int(a["padding"]),
                                  int(a.get("output_padding", "0"))), None
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        cls = nn.BatchNorm1d if kind == "BatchNorm1d" else nn.BatchNorm2d
        return cls(int(a["num_features"]), eps=float(a["eps"]), momentum=float(a["momentum"])), None
    if kind == "Dropout":
        return nn.Dropout(float(a["p"])), None
    if kind == "Flatten":
        return nn.Flatten(), None
    if kind == "Reshape":
        return nn.Unflatten(1, tuple(layer["output"])), None
    raise ValueError(f"layer {layer['path']}: vaegan_torch does not know the layer type {kind}")


class Chain(nn.Module):
    """Children "0", "1", ... run in order, each followed by its declared activation."""

    def __init__(self):
        super().__init__()
        self._post = {}

    def append(self, name, module, post):
        self.add_module(name, module)
        if post is not None:
            self._post[name] = post

    def forward(self, x):
        for name, module in self.named_children():
            x = module(x)
            if name in self._post:
                x = self._post[name](x)
        return x


class Network(nn.Module):
    """One vaegan network from its structure document (see the module's docstring)."""

    def __init__(self, structure):
        super().__init__()
        self.vaegan_name = structure["name"]
        self.structure = structure
        self._order = []  # top-level parts, in the order they run
        self._post = {}  # a lone layer's declared activation
        for layer in structure["layers"]:
            module, post = _layer(layer)
            head, _, rest = layer["path"].partition(".")
            if rest:  # "trunk.3": a layer of the chain "trunk"
                if head not in self._order:
                    self.add_module(head, Chain())
                    self._order.append(head)
                getattr(self, head).append(rest, module, post)
            else:  # "mu", "head": a lone layer, its parameters at "<name>.weight"
                self.add_module(head, module)
                self._order.append(head)
                if post is not None:
                    self._post[head] = post

    def _part(self, name, x):
        x = getattr(self, name)(x)
        return self._post[name](x) if name in self._post else x

    def forward(self, x):
        if self.vaegan_name == "encoder":  # trunk, then the two heads on its output
            h = self._part("trunk", x)
            return self._part("mu", h), self._part("logvar", h)
        for name in self._order:
            x = self._part(name, x)
        return x


def build(structure):
    """The torch.nn module of one structure document (a dict, or its JSON text)."""
    if isinstance(structure, str):
        structure = json.loads(structure)
    return Network(structure)


def load(path, dtype=torch.float32):
    """{network name: module} of a vaegan safetensors file, weights loaded with strict=True, eval mode."""
    tensors, metadata = read_safetensors(path)
    names = metadata.get("vaegan.networks", "")
    if not names:
        raise ValueError(f"{path}: no vaegan.networks metadata; export it with vaegan export or export_safetensors")
    nets = collections.OrderedDict()
    for name in names.split(","):
        net = build(metadata[f"vaegan.{name}.structure"]).to(dtype)
        state = {}
        for key, value in net.state_dict().items():
            array = tensors[f"{name}.{key}"]
            if key.endswith("num_batches_tracked"):
                state[key] = torch.tensor(int(array.reshape(-1)[0]), dtype=value.dtype)
            else:
                state[key] = torch.from_numpy(array.astype(np.float64)).to(value.dtype).reshape(value.shape)
        net.load_state_dict(state, strict=True)
        net.eval()
        nets[name] = net
    return nets


def save(nets, path, like):
    """Writes the modules' state dicts as a safetensors file vaegan loads (load_safetensors,
    vaegan import): vaegan's names and, for every tensor, the shape the structure documents
    of `like` (the file the modules came from) give it."""
    _, metadata = read_safetensors(like)
    tensors = {}
    for name, net in nets.items():
        structure = json.loads(metadata[f"vaegan.{name}.structure"])
        state = net.state_dict()
        for entry in structure["parameters"] + structure["buffers"]:
            value = state[entry["name"]].detach().cpu().double().numpy()
            tensors[entry["tensor"]] = value.reshape(entry["shape"])
    write_safetensors(path, tensors, {"format": "pt"})
