#!/usr/bin/env python3
"""The training report (train/callbacks/training_report.hpp) in a real browser.

make_report trains a tiny VAE-GAN with the library's callbacks and writes report.html;
headless Chromium (Debian's `chromium`) then loads it and this test checks that
  - the page's script ran (it marks <body> with data-images once every image settled),
  - every image on the page loaded (data-broken-images is 0, and the count matches the
    <img> tags of the file), and the browser logged no console message (no error, no
    uncaught exception),
  - a screenshot is not blank (many colours, a fair share of non-white pixels),
  - and, as a control that the check can fail: with one frame file deleted, the page
    reports one broken image and shows its note.
Standard library only (the screenshot's PNG is decoded with zlib).
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib


def fail(message):
    print("report_page_test: FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def chromium(browser, profile, *extra):
    """Runs headless Chromium on a file; returns (stdout, stderr)."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        fail("chromium exited %d: %s" % (result.returncode, result.stderr[-2000:]))
    return result.stdout, result.stderr


def console_lines(stderr):
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def body_attributes(dom):
    match = re.search(r"<body([^>]*)>", dom)
    if not match:
        fail("the dumped DOM has no <body>")
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', match.group(1)))


def png_pixels(path):
    """(width, height, channels, rows of bytes) of an 8-bit, non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(path + " is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace != 0:
        fail("unexpected screenshot format: depth %d, colour type %d, interlace %d" % (depth, colour, interlace))
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def check_page(report, browser, profile):
    """Loads the page; returns its <body> data attributes after checking the console."""
    dom, stderr = chromium(browser, profile, "--dump-dom", "file://" + os.path.abspath(report))
    console = console_lines(stderr)
    if console:
        fail("the page logged to the console:\n" + "\n".join(console))
    attributes = body_attributes(dom)
    if "images" not in attributes:
        fail("the page's script did not run to the end (no data-images on <body>): " + stderr[-2000:])
    return attributes, dom


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--make-report", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    out = os.path.join(args.work, "run")
    profile = os.path.join(args.work, "profile")
    subprocess.run([args.make_report, out], check=True, timeout=300)
    report = os.path.join(out, "report.html")
    with open(report, encoding="utf-8") as f:
        page = f.read()
    img_tags = len(re.findall(r"<img\b", page))
    if img_tags < 8:
        fail("expected the loss and FID plots and sample and reconstruction frames, found %d <img> tags" % img_tags)

    attributes, _ = check_page(report, args.chromium, profile)
    if attributes.get("images") != str(img_tags) or attributes.get("broken-images") != "0":
        fail("images on the page: %s, broken: %s (the file has %d <img> tags)" %
             (attributes.get("images"), attributes.get("broken-images"), img_tags))
    print("report_page_test: %d images loaded, no console messages" % img_tags)

    shot = os.path.join(args.work, "report.png")
    chromium(args.chromium, profile, "--window-size=1200,1600", "--screenshot=" + shot,
             "file://" + os.path.abspath(report))
    width, height, channels, rows = png_pixels(shot)
    colours, non_white, total = set(), 0, 0
    for row in rows[::4]:
        for x in range(0, width * channels, 4 * channels):
            pixel = row[x:x + min(channels, 3)]
            colours.add(pixel)
            total += 1
            non_white += any(v < 240 for v in pixel)
    if len(colours) < 50 or non_white < total // 50:
        fail("the screenshot looks blank: %d colours, %d of %d sampled pixels not white" %
             (len(colours), non_white, total))
    print("report_page_test: screenshot %dx%d, %d colours, %.1f%% not white" %
          (width, height, len(colours), 100.0 * non_white / total))

    # The control: a missing frame is reported by the page itself.
    os.remove(os.path.join(out, "samples_epoch_001.png"))
    attributes, dom = check_page(report, args.chromium, profile)
    if attributes.get("broken-images") != "1":
        fail("with samples_epoch_001.png deleted the page reports %s broken images, expected 1" %
             attributes.get("broken-images"))
    if not re.search(r'<p id="broken">[^<]*samples_epoch_001\.png', dom):
        fail("with samples_epoch_001.png deleted the page shows no note naming it")
    print("report_page_test: a deleted frame is reported on the page")


if __name__ == "__main__":
    main()
