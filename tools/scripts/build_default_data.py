#!/usr/bin/python3
"""Builds the built-in dataset of `mom train` from Debian packages, the same
bytes every time:

  images  letters and digits (a-z, A-Z, 0-9) rendered 16x16 grey, white on
          black, from every font file of the packages FONT_PACKAGES names
          that has all 62 of them (a style whose 62 glyphs draw exactly
          like an earlier style's, such as a script font reusing Noto
          Sans's Latin letters, is dropped)
  text    a caption that says what the image is: the character, the font
          family, the weight and the slant ("the capital letter G in
          DejaVu Sans bold italic")
  speech  captions spoken by espeak-ng (four voices) and flite (four voices)

The held-out split holds the font families whose look-alike group (families
with a style that draws within LOOK_ALIKE of one of another's, such as
clones under other names) has a first name whose CRC-32 is 0 mod 10: no
family, and no renamed copy of one, is in both splits, so held-out images
are letters in faces the model never saw. Of the training images,
TRAIN_IMAGES are kept, a fixed pseudo-random draw (every style and
character is in the pool); of the held-out ones, VAL_IMAGES.

Settings, one document per image:
  chameleon    caption then image, or image then caption (alternating); images
               as 16 codes of 4x4 patches (vq.safetensors, k-means, 256 codes)
  transfusion  chameleon's documents with each image as 16 continuous 4x4 patches
  three        the first THREE_IMAGES of the draw, orders cycling through caption
               then image, image then caption, speech then caption, caption then
               speech, image then speech (speech units: units.safetensors, 128 codes)

    apt-get install -y python3-pil python3-fonttools python3-numpy espeak-ng flite \
        $(/usr/bin/python3 tools/scripts/build_default_data.py --packages)
    /usr/bin/python3 tools/scripts/build_default_data.py --mom build/tools/mom [--out data/default]

needs python3-pil, python3-fonttools, python3-numpy, espeak-ng, flite and
the font packages of FONT_PACKAGES (--packages prints them); writes
{three,chameleon,transfusion}.{train,val}.bin.gz, vq.safetensors and
units.safetensors. Debian 12's versions of these packages (Pillow,
FreeType, espeak-ng, flite, the fonts) give the committed bytes."""
import argparse, concurrent.futures, gzip, hashlib, json, os, random, shutil, subprocess, sys, tempfile, zlib

# Debian 12 packages whose fonts the data is drawn from (apt-get install them
# first: the script reads these packages' font files only, and refuses to
# run when one is missing, since the bytes would differ).
FONT_PACKAGES = """fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-liberation2 fonts-urw-base35
fonts-freefont-ttf fonts-croscore fonts-crosextra-caladea fonts-crosextra-carlito fonts-texgyre fonts-lmodern
fonts-open-sans fonts-roboto-unhinted fonts-roboto-slab fonts-lato fonts-cantarell fonts-noto-core fonts-noto-mono
fonts-ebgaramond fonts-linuxlibertine fonts-sil-gentium fonts-sil-charis fonts-sil-andika fonts-sil-doulos fonts-stix
fonts-comic-neue fonts-inconsolata fonts-hack-ttf fonts-firacode fonts-go fonts-jetbrains-mono fonts-cabin
fonts-quicksand fonts-karla fonts-dosis fonts-adf-accanthis fonts-adf-baskervald fonts-adf-berenis fonts-adf-gillius
fonts-adf-ikarius fonts-adf-irianis fonts-adf-libris fonts-adf-mekanus fonts-adf-oldania fonts-adf-romande
fonts-adf-solothurn fonts-adf-switzera fonts-adf-tribun fonts-adf-universalis fonts-adf-verana fonts-oldstandard
fonts-vollkorn fonts-junicode fonts-yrsa-rasa fonts-paratype fonts-oxygen fonts-mononoki fonts-anonymous-pro
fonts-humor-sans fonts-isabella fonts-kristi fonts-breip fonts-dustin fonts-f500 fonts-femkeklaver
fonts-goudybookletter fonts-jura fonts-play fonts-prociono fonts-radisnoir fonts-gfs-neohellenic
fonts-averia-sans-gwf fonts-averia-serif-gwf fonts-league-spartan fonts-manrope fonts-opendin fonts-opendyslexic
fonts-clear-sans fonts-fantasque-sans fonts-agave fonts-monofur fonts-cabinsketch fonts-dotgothic16
fonts-eurofurence fonts-georgewilliams fonts-gotico-antiqua fonts-lindenhill fonts-millimetre fonts-okolaks
fonts-routed-gothic fonts-rufscript fonts-staypuft fonts-summersby fonts-tomsontalks fonts-unikurdweb
fonts-beteckna fonts-aenigma fonts-apropal fonts-bajaderka fonts-junction fonts-lemonada fonts-karmilla
fonts-league-mono fonts-monoid fonts-ubuntu-title fonts-yanone-kaffeesatz fonts-oflb-euterpe fonts-tlwg-garuda-otf
fonts-tlwg-kinnari-otf fonts-tlwg-laksaman-otf fonts-tlwg-loma-otf fonts-tlwg-norasi-otf fonts-tlwg-purisa-otf
fonts-tlwg-sawasdee-otf fonts-tlwg-typist-otf fonts-tlwg-typo-otf fonts-tlwg-umpush-otf fonts-tlwg-waree-otf
fonts-tlwg-mono-otf fonts-tlwg-typewriter-otf""".split()

CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
SIZE = 16                 # image side, pixels
RENDER = 64               # drawn at 4x, then box-filtered down
EM = 44                   # font size at the 4x scale
TRAIN_IMAGES = 24000
VAL_IMAGES = 2400
THREE_IMAGES = 8000       # the three setting's share of the draw (speech is the costly part)
THREE_VAL_IMAGES = THREE_IMAGES * VAL_IMAGES // TRAIN_IMAGES
LOOK_ALIKE = 0.04         # RMS pixel difference (0..1) under which two styles are one design
WEIGHTS = {100: "thin", 200: "extra-light", 300: "light", 400: "regular", 500: "medium", 600: "semibold",
           700: "bold", 800: "extra-bold", 900: "black"}
# (engine, voice, speed): espeak-ng -v VOICE -s SPEED, flite -voice VOICE
VOICES = [("espeak-ng", "en-us", "150"), ("espeak-ng", "en", "175"), ("espeak-ng", "en-us+f3", "160"),
          ("espeak-ng", "en+m3", "140"), ("flite", "slt", ""), ("flite", "rms", ""), ("flite", "awb", ""),
          ("flite", "kal16", "")]
ORDERS = {
    "three": [("text", "image"), ("image", "text"), ("audio", "text"), ("text", "audio"), ("image", "audio")],
    "chameleon": [("text", "image"), ("image", "text")],
    "transfusion": [("text", "image"), ("image", "text")],
}


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def font_files():
    """The .ttf and .otf files of FONT_PACKAGES, sorted: only those, so a
    font some other package installed does not change the data. A package
    that is not installed is refused by name."""
    files = []
    for pkg in FONT_PACKAGES:
        q = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", pkg], capture_output=True, text=True)
        if q.returncode or not q.stdout.endswith(" installed"):
            sys.exit(f"build_default_data: font package {pkg} is not installed (apt-get install it: --packages "
                     "lists them all); without it the data would differ")
        listed = subprocess.run(["dpkg", "-L", pkg], check=True, capture_output=True, text=True).stdout.split("\n")
        files += [f for f in listed if f.lower().endswith((".ttf", ".otf")) and os.path.isfile(f)]
    return sorted(set(files))


def weight_name(weight_class):
    """OS/2 usWeightClass as a word; old fonts write 1-9 for 100-900, and 0
    means unset (regular)."""
    w = weight_class * 100 if 1 <= weight_class <= 9 else weight_class or 400
    return WEIGHTS[min(900, max(100, int(round(w / 100.0)) * 100))]


def font_styles():
    """(family, weight name, italic, path) of every font of font_files()
    with all of CHARS, one per (family, weight, italic), in a fixed order."""
    from fontTools.ttLib import TTFont  # python3-fonttools
    found = {}
    for path in font_files():
        try:
            f = TTFont(path, lazy=True, fontNumber=0)
            cmap = f.getBestCmap() or {}
            if not all(ord(c) in cmap for c in CHARS) or "OS/2" not in f:
                continue
            family = (f["name"].getDebugName(16) or f["name"].getDebugName(1) or "").strip()
            weight = weight_name(f["OS/2"].usWeightClass)
            italic = bool(f["OS/2"].fsSelection & 1)
        except Exception:  # a font fontTools cannot read is not used
            continue
        if family and family.isascii():
            found.setdefault((family, weight, italic), path)
    return [(fam, w, it, found[(fam, w, it)]) for fam, w, it in sorted(found)]


def look_alike_groups(styles, glyphs):
    """Families joined when any style of one draws like a style of the other
    (RMS pixel difference under LOOK_ALIKE over the 62 glyphs): clones under
    other names, such as Liberation Sans and Arimo or Nimbus Roman and
    FreeSerif. A group goes to one split whole, so the held-out faces are
    not training faces renamed. Returns family -> the group's first name."""
    import numpy as np  # python3-numpy
    X = np.stack([np.frombuffer(b"".join(g), np.uint8).astype(np.float64) / 255.0 for g in glyphs])
    sq = (X * X).sum(1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (X @ X.T), 0.0) / X.shape[1])
    parent = {fam: fam for fam, _, _, _ in styles}

    def root(f):
        while parent[f] != f:
            f = parent[f]
        return f

    for i, j in zip(*np.nonzero(dist < LOOK_ALIKE)):
        a, b = root(styles[i][0]), root(styles[j][0])
        if a != b:
            parent[max(a, b)] = min(a, b)  # the smaller name leads: the same groups in any order
    return {fam: root(fam) for fam in parent}


def render(path, ch):
    """ch drawn with the font at path: SIZE x SIZE grey bytes, the glyph's
    box centred, white on black; None when it draws nothing."""
    from PIL import Image, ImageDraw, ImageFont  # python3-pil
    font = ImageFont.truetype(path, EM)
    img = Image.new("L", (RENDER, RENDER), 0)
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = draw.textbbox((0, 0), ch, font=font)
    if x1 <= x0 or y1 <= y0:
        return None
    draw.text(((RENDER - (x1 - x0)) / 2 - x0, (RENDER - (y1 - y0)) / 2 - y0), ch, font=font, fill=255)
    small = img.resize((SIZE, SIZE), Image.BOX)
    data = small.tobytes()
    return data if max(data) > 0 else None


def caption(ch, family, weight, italic):
    kind = "digit" if ch.isdigit() else "letter" if ch.islower() else "capital letter"
    return f"the {kind} {ch} in {family} {weight}{' italic' if italic else ''}"


def speak(work, i, text):
    engine, voice, speed = VOICES[i % len(VOICES)]
    wav = os.path.join(work, "wav", f"{i:05d}.wav")
    if engine == "espeak-ng":
        run(["espeak-ng", "-v", voice, "-s", speed, "-w", wav, text])
    else:
        run(["flite", "-voice", voice, "-t", text, "-o", wav])
    return wav


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mom", default="build/tools/mom")
    ap.add_argument("--out", default="data/default")
    ap.add_argument("--packages", action="store_true", help="print the font packages to install, and stop")
    a = ap.parse_args()
    if a.packages:
        print(" ".join(FONT_PACKAGES))
        return 0
    mom = os.path.abspath(a.mom)
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="mom-default-data-")
    try:
        os.makedirs(os.path.join(work, "img"))
        os.makedirs(os.path.join(work, "wav"))
        seen, kept, drawn = set(), [], []
        for family, weight, italic, path in font_styles():
            glyphs = [render(path, c) for c in CHARS]
            if any(g is None for g in glyphs):
                continue
            key = hashlib.sha256(b"".join(glyphs)).digest()
            if key in seen:  # the same drawings as an earlier style
                continue
            seen.add(key)
            kept.append((family, weight, italic, path))
            drawn.append(glyphs)
        group = look_alike_groups(kept, drawn)
        pool, families = {"train": [], "val": []}, {"train": set(), "val": set()}
        for (family, weight, italic, _), glyphs in zip(kept, drawn):
            split = "val" if zlib.crc32(group[family].encode()) % 10 == 0 else "train"
            families[split].add(family)
            for c, g in zip(CHARS, glyphs):
                pool[split].append((caption(c, family, weight, italic), g))
        print(f"styles: {len(kept)}; families: train {len(families['train'])}, held-out {len(families['val'])} "
              f"({len(set(group.values()))} look-alike groups); "
              f"images: train {len(pool['train'])}, held-out {len(pool['val'])}", file=sys.stderr)
        rng = random.Random(20251206)
        chosen = {"train": rng.sample(pool["train"], min(TRAIN_IMAGES, len(pool["train"]))),
                  "val": rng.sample(pool["val"], min(VAL_IMAGES, len(pool["val"])))}
        docs = {}
        for split, items in chosen.items():
            rows = []
            for i, (text, pixels) in enumerate(items):
                path = os.path.join(work, "img", f"{split}-{i:05d}.pgm")
                with open(path, "wb") as f:
                    f.write(b"P5 %d %d 255\n" % (SIZE, SIZE) + pixels)
                rows.append({"text": text, "image": path})
            docs[split] = rows
        # Speech only where the three setting's document order has it: a
        # recording takes 40-100 ms, the slowest part of the build.
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
            jobs = []
            for split, rows in docs.items():
                for i, row in enumerate(rows[:THREE_IMAGES if split == "train" else THREE_VAL_IMAGES]):
                    if "audio" in ORDERS["three"][i % len(ORDERS["three"])]:
                        jobs.append((row, ex.submit(speak, work, len(jobs), row["text"])))
            for row, job in jobs:
                row["audio"] = job.result()
        print(f"speech: {len(jobs)} recordings", file=sys.stderr)
        with open(os.path.join(work, "images.txt"), "w") as f:
            f.write("".join(r["image"] + "\n" for r in docs["train"]))
        with open(os.path.join(work, "audio.txt"), "w") as f:
            f.write("".join(r["audio"] + "\n" for r in docs["train"] if "audio" in r))
        vq, units = os.path.join(work, "vq.safetensors"), os.path.join(work, "units.safetensors")
        run([mom, "data", "vq-train", "--list", os.path.join(work, "images.txt"), "--out", vq,
             "--size", str(SIZE), "--patch", "4", "--codes", "256", "--seed", "1"])
        run([mom, "data", "units-train", "--list", os.path.join(work, "audio.txt"), "--out", units,
             "--codes", "128", "--seed", "1"])
        for setting, orders in ORDERS.items():
            for split, rows in docs.items():
                if setting == "three":
                    rows = rows[:THREE_IMAGES if split == "train" else THREE_VAL_IMAGES]
                manifest = os.path.join(work, f"{setting}.{split}.jsonl")
                with open(manifest, "w") as f:
                    for i, row in enumerate(rows):
                        first, second = orders[i % len(orders)]
                        seg = {k: json.dumps({k: v}) for k, v in row.items()}
                        f.write('{"segments": [%s, %s]}\n' % (seg[first], seg[second]))
                binpath = os.path.join(work, f"{setting}.{split}.bin")
                cmd = [mom, "data", "import", "--manifest", manifest, "--out", binpath]
                if setting == "transfusion":  # continuous patches: no codebook
                    cmd += ["--patch", "4", "--size", str(SIZE), "--channels", "1"]
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
