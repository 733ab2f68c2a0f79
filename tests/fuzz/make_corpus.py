#!/usr/bin/env python3
"""Regenerates the seed corpora of the fuzz targets (tests/fuzz/corpus/).

    python3 tests/fuzz/make_corpus.py path/to/mom

Python's standard library only, plus the mom command for what needs the
library's own tensor table (a model, its optimizer state) or writer (the
datasets). Every file stays a few KiB. The optimizer seeds belong to the
config tiny.json below, which tests/fuzz/fuzz_optim.c holds too."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
# A vocabulary in a pretrained order: 40 tokenizer ids (0 as BOS and EOS),
# the other specials appended, then 8 image codes.
PRETRAINED = {"n_modalities": 2, "vocab_size": 53, "d_model": 8, "n_layer": 1,
              "vocab_layout": {"special": 5, "text": 40, "image": 8, "speech": 0, "text_first": 1, "bos": 0, "eos": 0,
                               "boi": 40, "eoi": 41, "bosp": 42, "eosp": 43, "pad": 44}}
TINY = {"n_modalities": 2, "vocab_size": 16, "d_model": 8, "n_layer": 1, "d_state": 2, "d_conv": 2, "expand": 1}


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def safetensors(tensors, meta):
    """tensors: [(name, dtype, shape, bytes)] -> the file's bytes."""
    header, off = {}, 0
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(t[3] for t in tensors)


def f32(values):
    return struct.pack("<%df" % len(values), *values)


# ---- MOM64 (src/checksum.c) and dataset versions --------------------------
M = (1 << 64) - 1


def mom64(b):
    # Mirrors the C one, mom64_init / mom64_update / mom64_final of
    # src/checksum.c (declared in src/checksum.h): change both together.
    h = [0xCBF29CE484222325 ^ i for i in range(4)]
    for off in range(0, len(b), 32):
        blk = b[off:off + 32].ljust(32, b"\0")
        for i in range(4):
            x = ((h[i] ^ struct.unpack_from("<Q", blk, 8 * i)[0]) * 0x9E3779B97F4A7C15) & M
            h[i] = x ^ (x >> 32)
    r = 0xCBF29CE484222325
    for c in struct.pack("<4QQ", *h, len(b)):
        r = ((r ^ c) * 0x100000001B3) & M
    return r


def reseal(b):
    b = bytearray(b)
    b[64:72] = b"\0" * 8
    b[64:72] = struct.pack("<Q", mom64(bytes(b)))
    return bytes(b)


def as_version1(v2):
    b = bytearray(v2)
    b[8:12] = struct.pack("<I", 1)
    b[72:88] = b"\0" * 16
    return reseal(b)


def run(mom, *args):
    subprocess.run([mom, *args], check=True, stdout=subprocess.DEVNULL)


def png(width, height, channels, pixels):
    color = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\0" + bytes(pixels[y * width * channels:(y + 1) * width * channels]) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def wav(path, rate, channels, width, n):
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(n):
            for c in range(channels):
                v = ((i * 37 + c * 11) % 200 - 100) * (1 << (8 * width - 8)) // 128
                frames += (v + 128).to_bytes(1, "little") if width == 1 else v.to_bytes(width, "little", signed=True)
        w.writeframes(bytes(frames))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    mom = os.path.abspath(sys.argv[1])
    shutil.rmtree(CORPUS, ignore_errors=True)
    tmp = tempfile.mkdtemp()
    try:
        t = lambda name: os.path.join(tmp, name)

        # config
        put("config", "tiny.json", json.dumps(TINY))
        put("config", "defaults.json", "{}")
        put("config", "full.json", json.dumps({
            "n_modalities": 3, "vocab_size": 295, "d_model": 16, "n_layer": 2, "d_state": 4, "d_conv": 4,
            "expand": 2, "dt_rank": 0, "decouple": ["in", "x", "dt", "out"], "tie_embeddings": True,
            "norm_eps": 1e-5, "vocab_layout": {"special": 7, "text": 256, "image": 16, "speech": 16}}))
        put("config", "patches.json", json.dumps({
            "n_modalities": 2, "vocab_size": 263, "d_model": 8, "n_layer": 1, "decouple": ["in"],
            "tie_embeddings": False, "vocab_layout": {"special": 7, "text": 256},
            "patches": {"patch_size": 2, "image_size": 8, "channels": 3}, "time_dim": 16,
            "diffusion_weight": 2.5}))
        put("config", "pretrained.json", json.dumps(PRETRAINED))
        put("config", "bad_range.json", '{"d_model": 0, "n_layer": 99999999999}')
        put("config", "bad_syntax.json", '{"d_model": 8,, "decouple": ["in" "x"], "norm_eps": 1e400}')
        put("config", "unicode.json", '{"n_modalities": 1, "\\u00e9": "\\ud83d\\ude00"}')

        # jsonl
        put("jsonl", "tokens.jsonl", '{"segments": [{"modality": 0, "tokens": [5, 17, 3]}, {"modality": 1, "tokens": [20]}]}\n'
            '{"segments": [{"modality": 2, "tokens": [1, 2, 3, 4]}]}\n')
        put("jsonl", "patches.jsonl", '{"segments": [{"modality": 0, "tokens": [2]}, {"modality": 1, "patches": '
            '[[0, 0.5, -1, 1], [0, 0, 0, 0], [1, 1, 1, 1], [-0.5, 0.25, 0, 0]]}, {"modality": 0, "tokens": [3]}]}\n')
        put("jsonl", "bad.jsonl", '{"segments": [{"modality": 9, "tokens": [-1, 1e3]}]}\n\n{"segments": []}\n')

        # datasets: v2 (no patches), v3 (patches), v1 (no layout)
        with open(t("a.jsonl"), "w") as f:
            f.write('{"segments": [{"modality": 0, "tokens": [5, 17, 3, 9, 9, 1]}]}\n'
                    '{"segments": [{"modality": 1, "tokens": [20, 21, 22]}, {"modality": 0, "tokens": [2, 4]}]}\n')
        run(mom, "data", "import", "--jsonl", t("a.jsonl"), "--out", t("v2.bin"))
        run(mom, "data", "import", "--jsonl", os.path.join(CORPUS, "jsonl", "patches.jsonl"), "--out", t("v3.bin"),
            "--patch", "2", "--size", "4", "--channels", "1")
        v2, v3 = open(t("v2.bin"), "rb").read(), open(t("v3.bin"), "rb").read()
        put("dataset", "v2.bin", v2)
        put("dataset", "v3_patches.bin", v3)
        put("dataset", "v1.bin", as_version1(v2))
        with open(t("text.txt"), "w") as f:
            f.write("a handwritten seven\n")
        run(mom, "data", "import", "--text", t("text.txt"), "--out", t("layout.bin"))
        put("dataset", "v2_layout.bin", open(t("layout.bin"), "rb").read())
        put("dataset", "truncated.bin", v2[:200])

        # manifest (files it may name: t.txt, a.png; fuzz_manifest.c)
        put("manifest", "text.jsonl", '{"segments": [{"text": "a handwritten seven"}, {"text_file": "t.txt"}]}\n'
            '{"segments": [{"text": "\u00e9t\u00e9"}]}\n')  # raw UTF-8: the target skips backslashes
        put("manifest", "image.jsonl", '{"segments": [{"text": "a"}, {"image": "a.png"}, {"text": "b"}]}\n')
        put("manifest", "bad.jsonl", '{"segments": [{"text": "x", "image": "a.png"}, {"audio": "none.wav"}]}\n')

        # safetensors: a model, and models that do not fit
        with open(t("tiny.json"), "w") as f:
            json.dump(TINY, f)
        run(mom, "init", "--config", t("tiny.json"), "--out", t("model.safetensors"))
        model = open(t("model.safetensors"), "rb").read()
        put("safetensors", "tiny.safetensors", model)
        put("safetensors", "truncated.safetensors", model[:len(model) // 2])
        # quantized models (I8 / packed U8 values with F32 scales), and one
        # whose first stored scale is NaN
        for fmt in ("q8", "q4"):
            run(mom, "quantize", "--model", t("model.safetensors"), "--out", t(fmt + ".safetensors"), "--format", fmt)
            put("safetensors", "tiny_%s.safetensors" % fmt, open(t(fmt + ".safetensors"), "rb").read())
        q8 = open(t("q8.safetensors"), "rb").read()
        n = struct.unpack("<Q", q8[:8])[0]
        header = json.loads(q8[8:8 + n])
        first_scale = min(v["data_offsets"][0] for k, v in header.items() if k.endswith(".scale"))
        at = 8 + n + first_scale
        put("safetensors", "q8_nan_scale.safetensors", q8[:at] + struct.pack("<f", float("nan")) + q8[at + 4:])
        put("safetensors", "generic.safetensors", safetensors(
            [("a", "F64", [2], struct.pack("<2d", 1, 2)), ("b", "I64", [1, 1], struct.pack("<q", 7)),
             ("c", "U8", [3], b"abc"), ("d", "I32", [0, 4], b""), ("e", "U64", [], struct.pack("<Q", 1))],
            {"config": json.dumps(TINY), "libmom": "model"}))
        put("safetensors", "empty.safetensors", safetensors([], None))

        # optimizer state for the tiny model: one training step
        with open(t("train.jsonl"), "w") as f:
            f.write('{"segments": [{"modality": 0, "tokens": [5, 7, 3, 9, 9, 1, 2, 3]}, {"modality": 1, "tokens": [15, 14]}]}\n')
        run(mom, "data", "import", "--jsonl", t("train.jsonl"), "--out", t("train.bin"), "--vocab", "16",
            "--modalities", "2")
        run(mom, "train", "--data", t("train.bin"), "--config", t("tiny.json"), "--steps", "1", "--batch", "1",
            "--seq", "4", "--warmup", "0", "--eval-batches", "0", "--threads", "1", "--out", t("run"))
        optim = open(t("run/optim.safetensors"), "rb").read()
        put("optim", "tiny.safetensors", optim)
        put("optim", "truncated.safetensors", optim[:len(optim) - 8])

        # codebooks
        codes = [((i * 7) % 11) / 10.0 for i in range(4 * 4)]
        put("codebook", "vq_gray.safetensors", safetensors(
            [("codes", "F32", [4, 4], f32(codes))],
            {"kind": "mom_vq", "size": "4", "patch": "2", "channels": "1"}))
        put("codebook", "vq_rgb.safetensors", safetensors(
            [("codes", "F32", [2, 12], f32([i / 24.0 for i in range(24)]))],
            {"kind": "mom_vq", "size": "2", "patch": "2", "channels": "3"}))
        put("codebook", "units.safetensors", safetensors(
            [("codes", "F32", [2, 40], f32([(i % 13) / 4.0 for i in range(80)])), ("mean", "F32", [40], f32([0.0] * 40)),
             ("std", "F32", [40], f32([1.0] * 40))],
            {"kind": "mom_units", "sample_rate": "16000", "hop": "320", "window": "400", "bands": "40"}))

        # images
        put("image", "gray4.png", png(4, 4, 1, [i * 16 for i in range(16)]))
        put("image", "rgb3.png", png(3, 2, 3, [i * 14 for i in range(18)]))
        put("image", "rgba8.png", png(8, 8, 4, [(i * 5) % 256 for i in range(256)]))
        put("image", "gray.pgm", b"P5\n3 2\n255\n" + bytes([0, 50, 100, 150, 200, 250]))
        put("image", "rgb.ppm", b"P6\n2 2\n255\n" + bytes(range(0, 240, 20)))
        bmp_pixels = bytes([255, 0, 0, 0, 255, 0, 0, 0]) * 2  # 2x2, 24-bit rows padded to 8
        put("image", "tiny.bmp", b"BM" + struct.pack("<IHHI", 54 + len(bmp_pixels), 0, 0, 54) +
            struct.pack("<IiiHHIIiiII", 40, 2, 2, 1, 24, 0, len(bmp_pixels), 2835, 2835, 0, 0) + bmp_pixels)

        # wav
        wav(t("a.wav"), 16000, 1, 2, 800)
        wav(t("b.wav"), 8000, 2, 2, 400)
        wav(t("c.wav"), 22050, 1, 1, 1200)
        for name in ("a.wav", "b.wav", "c.wav"):
            put("wav", name, open(t(name), "rb").read())
        put("wav", "short.wav", open(t("a.wav"), "rb").read()[:300])
    finally:
        shutil.rmtree(tmp)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(CORPUS) for f in fs)
    print("corpus: %d bytes" % total)


if __name__ == "__main__":
    main()
