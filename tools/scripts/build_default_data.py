#!/usr/bin/python3
"""Builds the built-in dataset of `mom train` from Debian packages, the same
bytes every time:

  images  the 1,797 8x8 handwritten digits of python3-sklearn
  text    a short caption of each ("a handwritten seven", ...)
  speech  the caption spoken by espeak-ng (four voices: two speeds, two pitches)

Documents come in five orders: caption then image, image then caption,
speech then caption, caption then speech, image then speech (the
chameleon setting keeps the first two, without speech; the transfusion
setting is chameleon's documents with each image as 16 continuous 2x2
patches instead of 16 codes). Every digit is in two documents of
different orders. The last 10% of the digits are the held-out split, so
no image is in both.

    /usr/bin/python3 tools/scripts/build_default_data.py --mom build/tools/mom [--out data/default]

needs python3-sklearn and espeak-ng; writes {three,chameleon,transfusion}.{train,val}.bin.gz,
vq.safetensors (the image codebook) and units.safetensors (the speech units)."""
import argparse, gzip, os, shutil, subprocess, sys, tempfile

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEMPLATES = ["a handwritten {w}", "the digit {w}", "this is a {w}", "a {d} written by hand", "the number {w}"]
VOICES = [("140", "40"), ("175", "40"), ("140", "65"), ("175", "65")]  # espeak-ng -s SPEED -p PITCH
ORDERS = {
    "three": [("text", "image"), ("image", "text"), ("audio", "text"), ("text", "audio"), ("image", "audio")],
    "chameleon": [("text", "image"), ("image", "text")],
    "transfusion": [("text", "image"), ("image", "text")],
}


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mom", default="build/tools/mom")
    ap.add_argument("--out", default="data/default")
    a = ap.parse_args()
    from sklearn.datasets import load_digits  # python3-sklearn
    digits = load_digits()
    mom = os.path.abspath(a.mom)
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="mom-default-data-")
    try:
        os.makedirs(os.path.join(work, "img"))
        os.makedirs(os.path.join(work, "wav"))
        n = len(digits.images)
        n_train = n - n // 10
        captions, images, wavs = [], [], []
        for i, (img, label) in enumerate(zip(digits.images, digits.target)):
            path = f"img/{i:04d}.pgm"
            with open(os.path.join(work, path), "wb") as f:  # binary PGM, 17 gray levels scaled to 255
                f.write(b"P5 8 8 255\n" + bytes(int(round(v * 255 / 16)) for v in img.flatten()))
            images.append(path)
            caption = TEMPLATES[i % len(TEMPLATES)].format(w=WORDS[label], d=label)
            captions.append(caption)
            speed, pitch = VOICES[(i // len(TEMPLATES)) % len(VOICES)]
            key = f"{label}-{i % len(TEMPLATES)}-{speed}-{pitch}"
            wav = f"wav/{key}.wav"
            if not os.path.exists(os.path.join(work, wav)):
                run(["espeak-ng", "-s", speed, "-p", pitch, "-w", os.path.join(work, wav), caption])
            wavs.append(wav)
        with open(os.path.join(work, "images.txt"), "w") as f:
            f.write("".join(p + "\n" for p in images[:n_train]))
        with open(os.path.join(work, "audio.txt"), "w") as f:
            f.write("".join(p + "\n" for p in sorted(set(wavs[:n_train]))))
        vq, units = os.path.join(work, "vq.safetensors"), os.path.join(work, "units.safetensors")
        run([mom, "data", "vq-train", "--list", os.path.join(work, "images.txt"), "--out", vq,
             "--size", "8", "--patch", "2", "--codes", "256", "--seed", "1"])
        run([mom, "data", "units-train", "--list", os.path.join(work, "audio.txt"), "--out", units,
             "--codes", "128", "--seed", "1"])
        for setting, orders in ORDERS.items():
            for split, idx in (("train", range(n_train)), ("val", range(n_train, n))):
                manifest = os.path.join(work, f"{setting}.{split}.jsonl")
                with open(manifest, "w") as f:
                    for i in idx:
                        seg = {"text": '{"text": "%s"}' % captions[i], "image": '{"image": "%s"}' % images[i],
                               "audio": '{"audio": "%s"}' % wavs[i]}
                        for k in range(2):  # two documents per digit, different orders
                            first, second = orders[(i + k * 3) % len(orders)]
                            f.write('{"segments": [%s, %s]}\n' % (seg[first], seg[second]))
                binpath = os.path.join(work, f"{setting}.{split}.bin")
                cmd = [mom, "data", "import", "--manifest", manifest, "--out", binpath]
                if setting == "transfusion":  # continuous patches: no codebook
                    cmd += ["--patch", "2", "--size", "8", "--channels", "1"]
                else:
                    cmd += ["--vq", vq]
                if setting == "three":
                    cmd += ["--units", units]
                print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
                with open(binpath, "rb") as src, open(os.path.join(out, f"{setting}.{split}.bin.gz"), "wb") as dst:
                    dst.write(gzip.compress(src.read(), compresslevel=9, mtime=0))
        shutil.copy(vq, out)
        shutil.copy(units, out)
    finally:
        shutil.rmtree(work)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"{out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
