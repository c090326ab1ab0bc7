#!/usr/bin/env python3
"""Driver of the safetensors export tests, shared by CTest and Meson (tests/export/).

  run_export_test.py roundtrip --reference EXPORT_REFERENCE [--cli VAEGAN_EXPORT] [--import-cli VAEGAN_IMPORT] --work DIR
      export_reference trains a composed VAE-GAN and exports it; check_export.py reads the
      file on its own and compares the rebuilt networks with the C++ outputs; with --cli,
      vaegan export on the saved checkpoint must write the same bytes as the in-process export;
      with --import-cli too, weights rewritten by NumPy (each value negated) go into the
      checkpoint with vaegan import and come back out of vaegan export as written.
  run_export_test.py bad_input --reference EXPORT_REFERENCE --cli VAEGAN_EXPORT --work DIR
      vaegan export fed bad input: exit status 2 (usage) or 1 (runtime) with one line on
      stderr, and no output file (nor a temporary) left behind.
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(message):
    print(f"run_export_test: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def run(command, expect_rc=0, echo=True):
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if echo or (expect_rc is not None and result.returncode != expect_rc):
        sys.stdout.write(result.stdout)
        sys.stdout.write(result.stderr)
    if expect_rc is not None and result.returncode != expect_rc:
        fail(f"{' '.join(command)} exited with {result.returncode}, expected {expect_rc}")
    return result


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def leftovers(directory):
    return sorted(n for n in os.listdir(directory) if ".tmp." in n)


def roundtrip(args):
    fresh_dir(args.work)
    run([args.reference, args.work])
    conv_dir = os.path.join(args.work, "conv")
    for directory in (args.work, conv_dir):  # the dense model, then the conv one
        run([sys.executable, os.path.join(HERE, "check_export.py"), "--model",
             os.path.join(directory, "model.safetensors"), "--dir", directory])
    if not args.cli:
        print("run_export_test: no --cli (examples not built): the vaegan export comparison is not run")
        return
    for directory in (args.work, conv_dir):
        model = os.path.join(directory, "model.safetensors")
        out = os.path.join(directory, "cli.safetensors")
        result = run([args.cli, "export", "--checkpoint", os.path.join(directory, "checkpoint.bin"), "--safetensors", out])
        lines = result.stdout.splitlines()
        if len(lines) != 1 or out not in lines[0] or "tensors" not in lines[0] or "bytes" not in lines[0]:
            fail(f"vaegan export should print one line naming the file, the tensors and the bytes; got {lines}")
        with open(model, "rb") as a, open(out, "rb") as b:
            in_process, from_cli = a.read(), b.read()
        if in_process != from_cli:
            fail(f"vaegan export wrote {len(from_cli)} bytes that differ from the in-process export "
                 f"({len(in_process)} bytes)")
        print(f"run_export_test: vaegan export output is byte-identical to export_safetensors ({len(from_cli)} bytes)")
        if args.import_cli:
            import_roundtrip(args, directory, model)
        if leftovers(directory):
            fail(f"temporary files left behind: {leftovers(directory)}")


def negated_copy(model, out):
    """The safetensors file `model` with every F32 value negated, written by this script alone."""
    import json
    import struct
    import numpy as np
    with open(model, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = bytearray(data[8 + n:])
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        values = np.frombuffer(bytes(body[begin:end]), dtype="<f4")
        body[begin:end] = (-values).astype("<f4").tobytes()
    with open(out, "wb") as f:
        f.write(data[:8 + n] + bytes(body))


def import_roundtrip(args, directory, model):
    """Edited weights in through vaegan import, out again through vaegan export: the same bytes."""
    edited = os.path.join(directory, "edited.safetensors")
    negated_copy(model, edited)
    imported = os.path.join(directory, "imported.bin")
    result = run([args.import_cli, "import", "--checkpoint", os.path.join(directory, "checkpoint.bin"), "--weights",
                  edited, "--save", imported, "--reset-optimizer"])
    if len(result.stdout.splitlines()) != 1 or imported not in result.stdout:
        fail(f"vaegan import should print one line naming the file it wrote; got {result.stdout!r}")
    again = os.path.join(directory, "again.safetensors")
    run([args.cli, "export", "--checkpoint", imported, "--safetensors", again])
    with open(edited, "rb") as a, open(again, "rb") as b:
        if a.read() != b.read():
            fail("the weights imported with vaegan import did not come back out of vaegan export as written")
    print("run_export_test: edited weights went in with vaegan import and came out of vaegan export byte for byte")
    # A file of another model is refused, and nothing is written.
    refused = os.path.join(directory, "refused.bin")
    other = os.path.join(directory, "other.safetensors")
    with open(edited, "rb") as f:
        data = f.read()
    (n,) = __import__("struct").unpack("<Q", data[:8])
    header = data[8:8 + n].replace(b'"decoder.', b'"dekoder.')
    with open(other, "wb") as f:
        f.write(data[:8] + header + data[8 + n:])
    result = run([args.import_cli, "import", "--checkpoint", os.path.join(directory, "checkpoint.bin"), "--weights",
                  other, "--save", refused], expect_rc=1, echo=False)
    if "has no tensor 'decoder." not in result.stderr or os.path.exists(refused):
        fail(f"vaegan import must refuse a file without the decoder's tensors and write nothing: {result.stderr!r}")


def bad_input(args):
    fresh_dir(args.work)
    run([args.reference, args.work])
    checkpoint = os.path.join(args.work, "checkpoint.bin")
    before = sorted(os.listdir(args.work))

    def expect(name, flags, rc, absent=None):
        result = run([args.cli, "export"] + flags, expect_rc=None, echo=False)
        lines = result.stderr.splitlines()
        if result.returncode != rc:
            fail(f"{name}: exit status {result.returncode}, expected {rc}")
        if len(lines) != 1 or not lines[0].startswith("vaegan export: "):
            fail(f"{name}: expected one line on stderr starting 'vaegan export: ', got {lines}")
        if rc == 1 and not lines[0].startswith("vaegan export: error: "):
            fail(f"{name}: a runtime error should read 'vaegan export: error: ...', got {lines[0]!r}")
        if result.stdout:
            fail(f"{name}: expected nothing on stdout, got {result.stdout!r}")
        if absent is not None and os.path.exists(absent) and not os.path.isdir(absent):
            fail(f"{name}: '{absent}' was written")
        if sorted(os.listdir(args.work)) != before:
            fail(f"{name}: the work directory changed: {sorted(set(os.listdir(args.work)) - set(before))}")
        print(f"run_export_test: {name}: exit {rc}: {lines[0]}")

    missing_dir_out = os.path.join(args.work, "no-such-dir", "model.safetensors")
    expect("output in a missing directory", ["--checkpoint", checkpoint, "--safetensors", missing_dir_out], 1, missing_dir_out)
    os.makedirs(os.path.join(args.work, "a-directory"))
    before = sorted(os.listdir(args.work))
    expect("output is a directory", ["--checkpoint", checkpoint, "--safetensors", os.path.join(args.work, "a-directory")], 1)
    # A parent that is a file: the atomic write itself fails (no early check catches it).
    expect("output under a file", ["--checkpoint", checkpoint, "--safetensors", os.path.join(checkpoint, "x.safetensors")], 1)
    out = os.path.join(args.work, "out.safetensors")
    expect("missing checkpoint", ["--checkpoint", os.path.join(args.work, "nope.bin"), "--safetensors", out], 1, out)
    expect("not a checkpoint", ["--checkpoint", os.path.join(args.work, "z.npy"), "--safetensors", out], 1, out)
    expect("unknown flag", ["--checkpoint", checkpoint, "--safetensors", out, "--bogus"], 2, out)
    expect("no --safetensors", ["--checkpoint", checkpoint], 2, out)
    expect("no --checkpoint", ["--safetensors", out], 2, out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["roundtrip", "bad_input"])
    parser.add_argument("--reference", required=True, help="the export_reference program")
    parser.add_argument("--cli", default="", help="the vaegan program, for its export command (roundtrip: optional)")
    parser.add_argument("--import-cli", default="", help="the vaegan program, for its import command (roundtrip: optional)")
    parser.add_argument("--work", required=True, help="a scratch directory (emptied first)")
    args = parser.parse_args()
    if args.mode == "roundtrip":
        roundtrip(args)
    else:
        if not args.cli:
            parser.error("bad_input needs --cli")
        bad_input(args)
    print(f"run_export_test: {args.mode}: passed")


if __name__ == "__main__":
    main()
