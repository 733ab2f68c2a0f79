"""The python suite: the binding (python/libmom) against the build tree.

meson test runs it with PYTHONPATH=python, LIBMOM_LIBRARY (the built
libmom.so), MOM_EXE (the built mom), MOM_STRUCT_LAYOUT (tests/struct_layout.c
built), MOM_SOURCE_ROOT and MOM_PROJECT_VERSION set. Each check
says what it holds the binding to: `mom grad`'s losses and gradients, a
bit-exact state_dict round trip, prefill + step against logits, seeded
generation, an Error for every bad call, flat memory over 1,000 handles,
and the ctypes structs against the C compiler's layout.
"""
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import libmom
from libmom import _lib

CONFIG = {"n_modalities": 3, "vocab_size": 300, "d_model": 64, "n_layer": 2}
# A model with the built-in data's kind of vocabulary: 7 special tokens,
# then text bytes, image codes and speech units.
LAYOUT = {"special": 7, "text": 64, "image": 16, "speech": 8}
LAID_OUT = {"n_modalities": 3, "vocab_size": 95, "d_model": 32, "n_layer": 1, "vocab_layout": LAYOUT}


def env_path(name):
    p = os.environ.get(name)
    if not p:
        raise unittest.SkipTest(f"{name} is not set (meson test sets it)")
    return p


def random_batch(rng, B=4, T=16, V=300, M=3):
    """(B, T+1) tokens and modalities."""
    return (rng.integers(0, V, size=(B, T + 1)).astype(np.int32), rng.integers(0, M, size=(B, T + 1)).astype(np.uint8))


def read_safetensors(path):
    """{name: float32 array} of a safetensors file (F32 tensors only)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype="<f4").reshape(t["shape"])
    return out


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="libmom-py-")
        cls.ctx = libmom.Context(threads=2)

    @classmethod
    def tearDownClass(cls):
        cls.ctx.close()
        cls.tmp.cleanup()

    @classmethod
    def path(cls, name):
        return os.path.join(cls.tmp.name, name)

    def assertError(self, status, *needles):
        """A context manager: the block raises libmom.Error with this status
        and every needle in its message."""
        test = self

        class Expect:
            def __enter__(self):
                return self

            def __exit__(self, tp, e, tb):
                if tp is None:
                    test.fail(f"no libmom.Error (expected {status}: {needles})")
                if not issubclass(tp, libmom.Error):
                    return False
                test.assertEqual(e.status, status, f"status of {e!r}")
                for n in needles:
                    test.assertIn(str(n), e.message)
                self.error = e
                return True
        return Expect()


class StructLayout(Base):
    """The ctypes Structures of _lib.py against the C compiler's layout, and
    struct_layout.c's field lists against mom.h's own."""

    def header_structs(self):
        with open(os.path.join(env_path("MOM_SOURCE_ROOT"), "include", "mom.h")) as f:
            text = f.read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        out = {}
        for name, body in re.findall(r"typedef struct (\w+) \{(.*?)\} \1;", text, flags=re.S):
            fields = []
            for decl in body.split(";"):
                decl = decl.strip()
                if not decl:
                    continue
                # "int a, b" / "const int32_t *tokens" / "unsigned decouple" / "uint64_t reserved[8]"
                names = re.match(r"(?:const\s+)?(?:unsigned\s+)?\w+\s+(.*)$", decl, flags=re.S).group(1)
                for part in names.split(","):
                    fields.append(re.match(r"\s*\**\s*(\w+)", part).group(1))
            out[name] = fields
        return out

    def test_layout(self):
        c = json.loads(subprocess.run([env_path("MOM_STRUCT_LAYOUT")], check=True, capture_output=True,
                                      text=True).stdout)
        header = self.header_structs()
        self.assertEqual(set(header), set(c), "struct_layout.c must list every struct of mom.h")
        self.assertEqual(set(_lib.STRUCTS), set(c), "_lib.STRUCTS must mirror every struct of mom.h")
        for name, cs in c.items():
            self.assertEqual(list(cs["fields"]), header[name], f"{name}: struct_layout.c's fields vs mom.h's")
            py = _lib.STRUCTS[name]
            self.assertEqual([f for f, _ in py._fields_], header[name], f"{name}: ctypes fields vs mom.h's")
            self.assertEqual(__import__("ctypes").sizeof(py), cs["size"], f"sizeof({name})")
            for field, off in cs["fields"].items():
                self.assertEqual(getattr(py, field).offset, off, f"offsetof({name}, {field})")

    def test_version(self):
        self.assertEqual(libmom.version(), env_path("MOM_PROJECT_VERSION"))
        self.assertEqual(libmom.__version__, env_path("MOM_PROJECT_VERSION"))
        self.assertIn("cpu", libmom.backends())


class Readme(Base):
    def test_readme_quotes_the_example(self):
        """The README's Python section quotes examples/train_loop.py as it is
        (CI runs that file against the install)."""
        root = env_path("MOM_SOURCE_ROOT")
        with open(os.path.join(root, "examples", "train_loop.py")) as f:
            example = f.read()
        with open(os.path.join(root, "README.md")) as f:
            self.assertIn("```python\n" + example + "```\n", f.read())


class MatchesMomGrad(Base):
    """train_step, loss and backward against `mom grad` on the same rows."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rng = np.random.default_rng(7)
        cls.B, cls.T = 3, 20
        n = cls.B * (cls.T + 1) + 5
        tokens = rng.integers(0, 300, size=n).astype(np.int32)
        mods = rng.integers(0, 2, size=n).astype(np.uint8)  # modality 2 absent: its loss is None
        libmom.Dataset.write(cls.ctx, cls.path("grad.bin"), tokens, mods, vocab_size=300, n_modalities=3)
        cls.model = libmom.Model.create(cls.ctx, CONFIG, seed=3)
        cls.model.save(cls.path("grad.safetensors"))
        out = subprocess.run([env_path("MOM_EXE"), "grad", "--model", cls.path("grad.safetensors"), "--data",
                              cls.path("grad.bin"), "--batch", str(cls.B), "--seq", str(cls.T), "--threads", "2",
                              "--out", cls.path("grads.safetensors")],
                             check=True, capture_output=True, text=True).stdout
        cls.ref = json.loads(out)
        ds = libmom.Dataset.open(cls.ctx, cls.path("grad.bin"))
        cls.tok, cls.mod = ds.batch([b * (cls.T + 1) for b in range(cls.B)], cls.T)
        ds.close()

    def assertLossesEqual(self, out):
        """Equal to the digits mom grad prints (%.9g): the same threads run the same code."""
        self.assertEqual(float("%.9g" % out["loss"]), self.ref["loss"])
        self.assertEqual(len(out["by_modality"]), 3)
        for mine, ref in zip(out["by_modality"], self.ref["loss_by_modality"]):
            self.assertEqual(None if mine is None else float("%.9g" % mine), ref)
        self.assertEqual(out["count"], self.ref["targets_by_modality"])

    def test_loss(self):
        out = self.model.loss(self.tok, self.mod)
        self.assertLossesEqual(out)
        self.assertEqual(float(out), out["loss"])
        self.assertIsNone(out["by_modality"][2])
        self.assertIsNone(out["grad_norm"])

    def test_backward_grads(self):
        self.model.zero_grad()
        self.assertLossesEqual(self.model.backward(self.tok, self.mod))
        ref = read_safetensors(self.path("grads.safetensors"))
        grads = self.model.grads()
        self.assertEqual(list(grads), self.model.tensor_names)
        self.assertEqual(set(grads), set(ref))
        for name, g in grads.items():
            self.assertEqual(g.shape, ref[name].shape, name)
            np.testing.assert_array_equal(bits(g), bits(ref[name]), err_msg=name)
        flat = self.model.grads_flat()
        np.testing.assert_array_equal(flat, np.concatenate([g.reshape(-1) for g in grads.values()]))

    def test_train_step(self):
        # A copy of the model, so the others' tests see the saved weights.
        m = libmom.Model.load(self.ctx, self.path("grad.safetensors"))
        out = m.train_step(self.tok, self.mod, lr=1e-3)
        self.assertLossesEqual(out)
        self.assertGreater(out["grad_norm"], 0)
        self.assertEqual(m.steps_done, 1)
        after = m.loss(self.tok, self.mod)
        self.assertLess(after["loss"], out["loss"])
        # The same batch with int64 tokens and int modalities: converted, same result.
        m2 = libmom.Model.load(self.ctx, self.path("grad.safetensors"))
        out2 = m2.train_step(self.tok.astype(np.int64), self.mod.astype(np.int32), lr=1e-3)
        self.assertEqual(out2["loss"], out["loss"])
        for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
            np.testing.assert_array_equal(bits(a), bits(b))

    def test_explicit_targets(self):
        out = self.model.loss(self.tok[:, :-1], self.mod[:, :-1], targets=self.tok[:, 1:],
                              target_modality=self.mod[:, 1:])
        self.assertLossesEqual(out)

    def test_constant_lr(self):
        """lr 0 changes no weight (warmup_steps defaults to 0: the lr is the lr)."""
        m = libmom.Model.load(self.ctx, self.path("grad.safetensors"))
        before = m.state_dict()
        m.train_step(self.tok, self.mod, lr=0.0)
        for name, a in m.state_dict().items():
            np.testing.assert_array_equal(bits(a), bits(before[name]), err_msg=name)
        # With lr > 0 the very first step moves the weights (no warmup ramp from 0).
        m.train_step(self.tok, self.mod, lr=1e-2)
        self.assertFalse(np.array_equal(m.get_param("norm_f.weight"), before["norm_f.weight"]))


class StateDict(Base):
    def test_round_trip(self):
        rng = np.random.default_rng(1)
        m = libmom.Model.create(self.ctx, CONFIG, seed=1)
        tok, mod = random_batch(rng)
        for _ in range(3):
            m.train_step(tok, mod, lr=1e-2)
        sd = m.state_dict()
        self.assertEqual(list(sd), m.tensor_names)
        for name, a in sd.items():
            self.assertEqual(a.dtype, np.float32)
            self.assertEqual(a.shape, m.tensor_shape(name))
        self.assertIn("embedding.weight", sd)
        self.assertEqual(sd["embedding.weight"].shape, (300, 64))
        self.assertEqual(sd["layers.1.mixer.conv1d.weight"].shape, (128, 1, 4))
        self.assertIn("layers.0.mixer.local_experts_in_proj.2.weight", sd)

        other = libmom.Model.create(self.ctx, CONFIG, seed=2)
        other.load_state_dict(sd)
        for name, a in other.state_dict().items():
            np.testing.assert_array_equal(bits(a), bits(sd[name]), err_msg=name)
        # float64 holding float32 values is lossless: accepted.
        other.load_state_dict({k: v.astype(np.float64) for k, v in sd.items()})
        np.testing.assert_array_equal(bits(other.get_param("norm_f.weight")), bits(sd["norm_f.weight"]))

        p = self.path("round.safetensors")
        m.save(p)
        loaded = libmom.Model.load(self.ctx, p)
        for name, a in loaded.state_dict().items():
            np.testing.assert_array_equal(bits(a), bits(sd[name]), err_msg=name)
        self.assertEqual(loaded.config, m.config)
        np.testing.assert_array_equal(loaded.logits(tok[:, :-1], mod[:, :-1]), m.logits(tok[:, :-1], mod[:, :-1]))

    def test_optimizer_state(self):
        rng = np.random.default_rng(2)
        tok, mod = random_batch(rng)
        a = libmom.Model.create(self.ctx, CONFIG, seed=4)
        a.train_step(tok, mod)
        a.save(self.path("a.safetensors"))
        a.save_optim(self.path("a.optim"), rng_state=1234)
        b = libmom.Model.load(self.ctx, self.path("a.safetensors"))
        self.assertEqual(b.load_optim(self.path("a.optim")), 1234)
        self.assertEqual(b.steps_done, 1)
        la, lb = a.train_step(tok, mod), b.train_step(tok, mod)
        self.assertEqual(la["loss"], lb["loss"])
        np.testing.assert_array_equal(bits(a.get_param("embedding.weight")), bits(b.get_param("embedding.weight")))


class Inference(Base):
    def test_prefill_step_equals_logits(self):
        rng = np.random.default_rng(3)
        m = libmom.Model.create(self.ctx, CONFIG, seed=5)
        tok, mod = random_batch(rng, B=2, T=80)
        full = m.logits(tok, mod)  # (2, 81, 300)
        self.assertEqual(full.shape, (2, 81, 300))
        self.assertEqual(full.dtype, np.float32)

        def close(a, b):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())

        st = m.state(n_seq=2, max_tokens=4096)
        # Sequence 0 one row at a time, sequence 1 from a (1, T) block: split points around the scan chunk.
        for seq, split in ((0, 64), (1, 33)):
            lg = st.prefill(seq, tok[seq, :split], mod[seq, :split])
            self.assertEqual(lg.shape, (300,))
            close(lg, full[seq, split - 1])
            lg = st.prefill(seq, tok[seq:seq + 1, split:70], mod[seq:seq + 1, split:70])
            self.assertEqual(lg.shape, (1, 300))
            close(lg[0], full[seq, 69])
        self.assertEqual(st.length(0), 70)
        for t in range(70, 81):
            lg = st.step(tok[:, t], mod[:, t])
            self.assertEqual(lg.shape, (2, 300))
            close(lg, full[:, t])
        # Both rows in one prefill call, after a reset; the modality as one int.
        st.reset()
        lg = st.prefill(0, tok[:, :5], 1)
        close(lg, m.logits(tok[:, :5], np.ones((2, 5), np.uint8))[:, 4])
        # A branch: sequence 1 becomes sequence 0's copy and steps the same.
        st.copy_from(st, src_seq=0, seq=1)
        lg = st.step(np.array([9, 9]), 0)
        np.testing.assert_array_equal(lg[0], lg[1])
        # A 1-D row to logits gives (T, vocab).
        self.assertEqual(m.logits(tok[0, :7], mod[0, :7]).shape, (7, 300))

    def test_generate_seeded(self):
        m = libmom.Model.create(self.ctx, CONFIG, seed=6)
        prompt = np.array([5, 17, 42, 7], np.int32)
        pm = np.array([0, 0, 1, 2], np.uint8)
        a = m.generate(prompt, pm, max_tokens=24, seed=1)
        b = m.generate(prompt, pm, max_tokens=24, seed=1, temperature=1.0, top_k=0, top_p=1.0)
        c = m.generate(prompt, pm, max_tokens=24, seed=2)
        self.assertEqual(a.dtype, np.int32)
        self.assertEqual(a.shape, (24,))  # the sampled tokens alone: no layout, no EOS stop
        np.testing.assert_array_equal(a, b)
        self.assertFalse(np.array_equal(a, c))
        self.assertTrue(((a >= 0) & (a < 300)).all())
        # Greedy equals the argmax through the state, each token fed with the last prompt modality.
        g = m.generate(prompt, pm, max_tokens=6, temperature=0)
        st = m.state()
        lg = st.prefill(0, prompt, pm)
        for t in g:
            self.assertEqual(int(t), int(np.argmax(lg)))
            lg = st.step(t, pm[-1])[0]
        # Two prompts together, seeded: reproducible, and row 0 draws what the prompt alone draws.
        two = m.generate(np.stack([prompt, prompt]), np.stack([pm, pm]), max_tokens=8, seed=3)
        self.assertEqual(two.shape, (2, 8))
        np.testing.assert_array_equal(two, m.generate(np.stack([prompt, prompt]), np.stack([pm, pm]), max_tokens=8,
                                                      seed=3))
        np.testing.assert_array_equal(two[0], m.generate(prompt, pm, max_tokens=8, seed=3))

    def test_generate_layout(self):
        """With a vocabulary layout, tokens are fed with their own modality and
        a sequence ends at EOS, as mom generate does."""
        m = libmom.Model.create(self.ctx, LAID_OUT, seed=1)
        self.assertEqual(m.vocab_layout, LAYOUT)
        self.assertEqual(m.token_modality(7 + 64), 1)
        seen_eos = False
        for seed in range(20):
            out = m.generate([0, 7 + ord("a") % 64], 0, max_tokens=30, seed=seed)
            self.assertLessEqual(len(out), 30)
            if len(out) < 30:
                self.assertEqual(out[-1], 1)
                seen_eos = True
            self.assertNotIn(1, out[:-1].tolist())
        self.assertTrue(seen_eos, "20 samples of 30 tokens from an untrained model never drew EOS")
        # token_modality overrides the layout: greedy with a table that maps
        # every token to `fill` is the argmax through the state, each sampled
        # token fed with modality `fill`.
        for fill in (0, 1):
            table = np.full(95, fill, np.uint8)
            out = m.generate([0, 9], 0, max_tokens=5, temperature=0, token_modality=table, stop_at_eos=False)
            self.assertEqual(out.shape, (5,))
            st = m.state()
            lg = st.prefill(0, [0, 9], 0)
            for t in out:
                self.assertEqual(int(t), int(np.argmax(lg)))
                lg = st.step(t, fill)[0]

    def test_generate_pretrained_layout(self):
        """A pretrained order (mom convert --add-image-codes ...): the dict
        round-trips, and EOS is the layout's id (0, the pretrained
        end-of-text, also BOS), not libmom's own 1."""
        layout = {"special": 5, "text": 40, "image": 8, "speech": 0, "text_first": 1, "bos": 0, "eos": 0,
                  "boi": 40, "eoi": 41, "bosp": 42, "eosp": 43, "pad": 44}
        m = libmom.Model.create(self.ctx, {"n_modalities": 2, "vocab_size": 53, "d_model": 32, "n_layer": 1,
                                           "vocab_layout": layout}, seed=2)
        self.assertEqual(m.vocab_layout, layout)
        self.assertEqual((m.special_token("eos"), m.special_token("pad")), (0, 44))
        with self.assertError(libmom.ERR_INVALID_ARG, "'eot' is not one of bos, eos"):
            m.special_token("eot")
        seen_eos = False
        for seed in range(30):
            out = m.generate([0, 5, 9], 0, max_tokens=30, seed=seed)
            self.assertNotIn(0, out[:-1].tolist())
            self.assertFalse(set(out.tolist()) & {42, 43, 44})  # no speech: no BOSP, EOSP; never PAD
            inside = False  # image codes (45..52) only between BOI (40) and EOI (41)
            for t in out.tolist():
                self.assertTrue(t >= 45 or t == 41 if inside else t < 45 and t != 41, out)
                inside = t == 40 or (inside and t != 41)
            if len(out) < 30:
                self.assertEqual(out[-1], 0)
                seen_eos = True
        self.assertTrue(seen_eos, "30 samples of 30 tokens from an untrained model never drew EOS (id 0)")

    def test_quantize(self):
        """A q8 copy's logits stay near the fp32 model's; training it raises,
        naming the format."""
        m = libmom.Model.create(self.ctx, CONFIG, seed=6)
        tok = np.array([[5, 17, 42, 7, 9, 100]], np.int32)
        mod = np.array([[0, 0, 1, 2, 1, 0]], np.uint8)
        ref = m.logits(tok, mod)
        for fmt, rel in (("q8", 1e-2), ("q4", 1e-1)):
            q = m.quantize(fmt)
            self.assertEqual(q.config["weight_format"], fmt)
            self.assertLessEqual(float(np.abs(q.logits(tok, mod) - ref).max()), rel * float(np.ptp(ref)))
            with self.assertError(libmom.ERR_UNSUPPORTED, f"the model's are {fmt}"):
                q.train_step(tok, mod)
            q.close()
        with self.assertError(libmom.ERR_INVALID_ARG, "'q2' is not 'q8' or 'q4'"):
            m.quantize("q2")

    def test_sampler(self):
        m = libmom.Model.create(self.ctx, CONFIG, seed=6)
        lg = np.zeros(300, np.float32)
        lg[17] = 50
        sp = m.sampler(2, seed=1)
        self.assertEqual(sp.sample(0, lg), 17)
        sp.accept(0, [1, 2, 17])
        with self.assertError(libmom.ERR_INVALID_ARG, "seq 5"):
            sp.sample(5, lg)


class Errors(Base):
    """Every bad call raises libmom.Error naming the value; none crashes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model = libmom.Model.create(cls.ctx, CONFIG, seed=1)
        cls.tok, cls.mod = random_batch(np.random.default_rng(5))

    def test_bad_token_id(self):
        tok = self.tok.copy()
        tok[1, 5] = 300
        with self.assertError(libmom.ERR_DATA, "300", "tokens[1, 5]"):
            self.model.train_step(tok, self.mod)
        tok = self.tok.copy()
        tok[2, 16] = 1000  # the last column: a target only
        with self.assertError(libmom.ERR_DATA, "1000", "tokens[2, 16]"):
            self.model.loss(tok, self.mod)
        with self.assertError(libmom.ERR_DATA, "-3"):
            self.model.logits(np.array([[1, -3]]), 0)
        st = self.model.state()
        with self.assertError(libmom.ERR_DATA, "301"):
            st.prefill(0, [1, 2, 301], 0)
        with self.assertError(libmom.ERR_DATA, "999"):
            st.step(999, 0)

    def test_bad_modality(self):
        mod = self.mod.copy()
        mod[0, 3] = 3
        with self.assertError(libmom.ERR_DATA, "modality 3", "modality[0, 3]"):
            self.model.loss(self.tok, mod)
        with self.assertError(libmom.ERR_DATA, "300", "uint8"):
            self.model.loss(self.tok, np.full(self.tok.shape, 300))

    def test_dtypes(self):
        with self.assertError(libmom.ERR_INVALID_ARG, "float64", "int32"):
            self.model.loss(self.tok.astype(np.float64), self.mod)
        with self.assertError(libmom.ERR_INVALID_ARG, "float32", "uint8"):
            self.model.loss(self.tok, self.mod.astype(np.float32))
        big = self.tok.astype(np.int64)
        big[0, 0] = 2**40
        with self.assertError(libmom.ERR_DATA, str(2**40), "int32", "[0, 0]"):
            self.model.loss(big, self.mod)
        with self.assertError(libmom.ERR_INVALID_ARG, "int64", "float32"):
            self.model.set_param("norm_f.weight", np.ones(64, np.int64))
        with self.assertError(libmom.ERR_INVALID_ARG, "float64", "float32"):
            self.model.set_param("norm_f.weight", np.full(64, 0.1, np.float64))
        # Lossless conversions are made: bools as modalities, int16 tokens, a list.
        ref = self.model.loss(self.tok, self.mod)
        self.assertEqual(self.model.loss(self.tok.astype(np.int16), self.mod.astype(np.int64))["loss"], ref["loss"])
        self.assertEqual(self.model.loss(self.tok.tolist(), self.mod.tolist())["loss"], ref["loss"])
        self.model.loss(self.tok, self.mod.astype(bool))

    def test_shapes(self):
        with self.assertError(libmom.ERR_INVALID_ARG, "(17,)", "(B, T+1)"):
            self.model.train_step(self.tok[0], self.mod[0])
        with self.assertError(libmom.ERR_INVALID_ARG, "(4, 16)", "(4, 17)"):
            self.model.loss(self.tok, self.mod[:, :16])
        with self.assertError(libmom.ERR_INVALID_ARG, "(4, 1)"):
            self.model.loss(self.tok[:, :1], self.mod[:, :1])
        st = self.model.state(n_seq=2)
        with self.assertError(libmom.ERR_INVALID_ARG, "(3,)", "(2,)"):
            st.step([1, 2, 3], 0)
        with self.assertError(libmom.ERR_INVALID_ARG, "seq0", "5"):
            st.prefill(5, [1, 2], 0)
        with self.assertError(libmom.ERR_INVALID_ARG, "norm_f.weight", "(63,)", "(64,)"):
            self.model.set_param("norm_f.weight", np.ones(63, np.float32))

    def test_closed_handles(self):
        m = libmom.Model.create(self.ctx, CONFIG, seed=1)
        st = m.state()
        m.close()
        m.close()  # twice is fine
        with self.assertError(libmom.ERR_INVALID_ARG, "Model", "closed"):
            m.loss(self.tok, self.mod)
        with self.assertError(libmom.ERR_INVALID_ARG, "State", "Model was closed"):
            st.step(1, 0)
        with self.assertError(libmom.ERR_INVALID_ARG, "closed"):
            m.state_dict()
        self.assertTrue(m.closed)
        # with: closed at the end of the block.
        with libmom.Model.create(self.ctx, CONFIG, seed=1) as m2:
            m2.loss(self.tok, self.mod)
        with self.assertError(libmom.ERR_INVALID_ARG, "closed"):
            m2.logits(self.tok, self.mod)

    def test_closed_context(self):
        ctx = libmom.Context(threads=1)
        m = libmom.Model.create(ctx, CONFIG, seed=1)
        st = m.state()
        sp = m.sampler()
        libmom.Dataset.write(ctx, self.path("c.bin"), np.arange(50) % 300)
        ds = libmom.Dataset.open(ctx, self.path("c.bin"))
        ctx.close()
        for call in (lambda: m.loss(self.tok, self.mod), lambda: st.step(1, 0), lambda: ds.n_tokens,
                     lambda: sp.sample(0, np.zeros(300, np.float32)), lambda: m.config,
                     lambda: libmom.Model.create(ctx, CONFIG)):
            with self.assertError(libmom.ERR_INVALID_ARG, "Context", "closed"):
                call()
        with self.assertError(libmom.ERR_INVALID_ARG, "not a libmom.Context"):
            libmom.Model.create("ctx", CONFIG)

    def test_garbage_collection_order(self):
        """A cycle holding a context and its children, collected in whatever
        order the collector finalizes it: no crash and no double free (the
        leak check is the sanitized C suites'; here ASan does not run)."""
        for _ in range(20):
            ctx = libmom.Context(threads=1)
            m = libmom.Model.create(ctx, CONFIG, seed=1)
            st = m.state()
            holder = {"ctx": ctx, "m": m, "st": st}
            holder["self"] = holder
            ctx.cycle = holder
            del ctx, m, st, holder
            gc.collect()
        # A model outliving every name for its context keeps it alive.
        m = libmom.Model.create(libmom.Context(threads=1), CONFIG, seed=1)
        gc.collect()
        m.loss(self.tok, self.mod)

    def test_config(self):
        with self.assertError(libmom.ERR_CONFIG, "d_modl"):
            libmom.Model.create(self.ctx, {"d_modl": 64})
        with self.assertError(libmom.ERR_CONFIG, "-5"):
            libmom.Model.create(self.ctx, dict(CONFIG, d_model=-5))
        with self.assertError(libmom.ERR_CONFIG, "n_modalities", "9"):
            libmom.Model.create(self.ctx, dict(CONFIG, n_modalities=9))
        with self.assertError(libmom.ERR_CONFIG, "d_model"):
            libmom.Model.create(self.ctx, dict(CONFIG, d_model="wide"))
        with self.assertError(libmom.ERR_CONFIG, "decouple", "sideways"):
            libmom.Model.create(self.ctx, dict(CONFIG, decouple=["in", "sideways"]))
        with self.assertError(libmom.ERR_INVALID_ARG, "object"):
            libmom.Model.create(self.ctx, dict(CONFIG, d_model=object()))
        # numpy scalars are numbers; None is the default.
        m = libmom.Model.create(self.ctx, dict(CONFIG, d_model=np.int64(32), vocab_layout=None, d_state=None))
        self.assertEqual((m.config["d_model"], m.config["d_state"], m.vocab_layout), (32, 16, None))

    def test_files(self):
        missing = self.path("nowhere/model.safetensors")
        with self.assertError(libmom.ERR_IO, missing):
            libmom.Model.load(self.ctx, missing)
        with self.assertError(libmom.ERR_IO, missing):
            libmom.Dataset.open(self.ctx, missing)
        junk = self.path("junk.safetensors")
        with open(junk, "wb") as f:
            f.write(b"not a checkpoint at all")
        with self.assertError(libmom.ERR_FORMAT, junk):
            libmom.Model.load(self.ctx, junk)

    def test_load_state_dict(self):
        m = libmom.Model.create(self.ctx, CONFIG, seed=9)
        before = m.state_dict()
        sd = dict(before)
        sd["norm_f.weight"] = np.zeros(65, np.float32)
        sd["embedding.weight"] = np.zeros((300, 64), np.float32)
        with self.assertError(libmom.ERR_INVALID_ARG, "norm_f.weight", "(65,)", "(64,)"):
            m.load_state_dict(sd)
        sd = dict(before, **{"layers.7.bogus": np.zeros(3, np.float32)})
        with self.assertError(libmom.ERR_NOT_FOUND, "layers.7.bogus"):
            m.load_state_dict(sd)
        with self.assertError(libmom.ERR_NOT_FOUND, "lacks 1", "norm_f.weight"):
            m.load_state_dict({k: v for k, v in before.items() if k != "norm_f.weight"})
        nan = dict(before)
        nan["norm_f.weight"] = before["norm_f.weight"].copy()
        nan["norm_f.weight"][7] = np.nan
        with self.assertError(libmom.ERR_INVALID_ARG, "norm_f.weight", "[7]", "nan"):
            m.load_state_dict(nan)
        # Nothing of a refused dict was set.
        for name, a in m.state_dict().items():
            np.testing.assert_array_equal(bits(a), bits(before[name]), err_msg=name)
        m.load_state_dict({"norm_f.weight": np.ones(64, np.float32)}, strict=False)
        np.testing.assert_array_equal(m.get_param("norm_f.weight"), np.ones(64, np.float32))
        with self.assertError(libmom.ERR_NOT_FOUND, "nope"):
            m.grad("nope")

    def test_arguments(self):
        with self.assertError(libmom.ERR_INVALID_ARG, "lr", "-1"):
            self.model.train_step(self.tok, self.mod, lr=-1.0)
        with self.assertError(libmom.ERR_INVALID_ARG, "betas", "0.5"):
            self.model.train_step(self.tok, self.mod, betas=0.5)
        with self.assertError(libmom.ERR_INVALID_ARG, "lr", "'fast'"):
            self.model.train_step(self.tok, self.mod, lr="fast")
        with self.assertError(libmom.ERR_INVALID_ARG, "top_p", "1.5"):
            self.model.generate([1, 2], 0, top_p=1.5)
        with self.assertError(libmom.ERR_INVALID_ARG, "max_tokens", "0"):
            self.model.generate([1, 2], 0, max_tokens=0)
        with self.assertError(libmom.ERR_INVALID_ARG, "n_seq", "0"):
            self.model.state(n_seq=0)
        with self.assertError(libmom.ERR_INVALID_ARG, "threads", "-1"):
            libmom.Context(threads=-1)
        with self.assertError(libmom.ERR_INVALID_ARG, "nosuch"):
            libmom.Context(backend="nosuch")
        with self.assertError(libmom.ERR_INVALID_ARG, "limit of 3"):
            st = self.model.state(max_tokens=3)
            st.prefill(0, [1, 2, 3, 4], 0)

    def test_dataset_windows(self):
        libmom.Dataset.write(self.ctx, self.path("w.bin"), np.arange(100) % 300, np.arange(100) % 3,
                             doc_starts=[0, 40, 100])
        with libmom.Dataset.open(self.ctx, self.path("w.bin")) as ds:
            with self.assertError(libmom.ERR_INVALID_ARG, "90"):
                ds.batch([0, 90], 16)
        with self.assertError(libmom.ERR_DATA, "300"):
            libmom.Dataset.write(self.ctx, self.path("bad.bin"), [1, 2, 300], vocab_size=300)
        with self.assertError(libmom.ERR_INVALID_ARG, "texts"):
            libmom.Dataset.write(self.ctx, self.path("bad.bin"), [1, 2], vocab_layout={"texts": 3})


class DatasetAndEvaluate(Base):
    def test_dataset(self):
        rng = np.random.default_rng(4)
        tokens = rng.integers(0, 300, 500).astype(np.int32)
        mods = rng.integers(0, 3, 500).astype(np.uint8)
        libmom.Dataset.write(self.ctx, self.path("d.bin"), tokens, mods, doc_starts=[0, 200, 500], vocab_size=300,
                             n_modalities=3)
        ds = libmom.Dataset.open(self.ctx, self.path("d.bin"))
        self.assertEqual((ds.n_tokens, ds.n_docs, ds.n_modalities, ds.vocab_size), (500, 2, 3, 300))
        self.assertIsNone(ds.vocab_layout)
        self.assertIsNone(ds.patch_geometry)
        np.testing.assert_array_equal(ds.tokens(), tokens)
        np.testing.assert_array_equal(ds.modalities(), mods)
        tok, mod = ds.batch([0, 17, 400], 32)
        self.assertEqual((tok.shape, tok.dtype, mod.shape, mod.dtype), ((3, 33), np.int32, (3, 33), np.uint8))
        np.testing.assert_array_equal(tok[1], tokens[17:50])
        np.testing.assert_array_equal(mod[2], mods[400:433])
        m = libmom.Model.create(self.ctx, CONFIG, seed=1)
        ds.check(m)
        ev = m.evaluate(ds, 2, 32, max_batches=3)
        self.assertEqual(ev["n_targets"], 3 * 2 * 32)
        with self.assertError(libmom.ERR_INVALID_ARG, "not a libmom.Dataset"):
            m.evaluate("data.bin", 2, 32)
        self.assertTrue(np.isfinite(m.train_step(tok, mod).loss))
        small = libmom.Model.create(self.ctx, dict(CONFIG, vocab_size=100), seed=1)
        with self.assertError(libmom.ERR_DATA, "model vocab_size 100"):
            ds.check(small)
        with self.assertError(libmom.ERR_INVALID_ARG, "not a libmom.Model"):
            ds.check("model")

    def test_losses_mapping(self):
        m = libmom.Model.create(self.ctx, CONFIG, seed=1)
        tok, mod = random_batch(np.random.default_rng(8))
        out = m.train_step(tok, np.zeros_like(mod))
        self.assertEqual(set(out), {"loss", "by_modality", "count", "n_targets", "grad_norm"})
        self.assertEqual(out["by_modality"][1:], [None, None])
        self.assertEqual(out.loss, float(out))
        self.assertEqual(out["n_targets"], 4 * 16)
        self.assertIn("Losses(loss=", repr(out))
        self.assertIsInstance(out, dict)
        self.assertEqual(json.loads(json.dumps(out))["by_modality"][1], None)


class ContinuousImages(Base):
    def test_patches(self):
        cfg = {"n_modalities": 2, "vocab_size": 40, "d_model": 32, "n_layer": 1,
               "vocab_layout": {"special": 7, "text": 33}, "patches": {"patch_size": 2, "image_size": 4, "channels": 1}}
        m = libmom.Model.create(self.ctx, cfg, seed=1)
        # BOS, text, BOI, 4 patch positions (PAD, modality 1), EOI, text.
        tok = np.array([[0, 9, 2, 6, 6, 6, 6, 3, 10]], np.int32)
        mod = np.array([[0, 0, 0, 1, 1, 1, 1, 0, 0]], np.uint8)
        patches = np.random.default_rng(1).uniform(-1, 1, (1, 8, 4)).astype(np.float32)
        out = m.train_step(tok, mod, patches=patches, noise_seed=1)
        self.assertTrue(np.isfinite(out["loss"]))
        with self.assertError(libmom.ERR_INVALID_ARG, "patches is NULL"):
            m.loss(tok, mod)
        with self.assertError(libmom.ERR_INVALID_ARG, "(1, 8, 3)"):
            m.loss(tok, mod, patches=patches[:, :, :3])


class DeviceBackends(Base):
    def test_devices_match_cpu(self):
        """Each device backend of this build that starts here (software
        devices such as lavapipe allowed): three train_steps, the logits and
        a seeded generation as the CPU gives them."""
        rng = np.random.default_rng(10)
        tok, mod = random_batch(rng, T=32)
        ran = []
        for name in libmom.backends()[1:]:
            try:
                dev = libmom.Context(threads=2, backend=name, allow_software=True)
            except libmom.Error as e:
                print(f"backend {name} does not start here: {e}", file=sys.stderr)
                continue
            with dev:
                cpu, on = libmom.Model.create(self.ctx, CONFIG, seed=1), libmom.Model.create(dev, CONFIG, seed=1)
                for _ in range(3):
                    a, b = cpu.train_step(tok, mod), on.train_step(tok, mod)
                    self.assertAlmostEqual(a["loss"], b["loss"], delta=1e-6 * a["loss"])
                la, lb = cpu.logits(tok, mod), on.logits(tok, mod)
                np.testing.assert_allclose(lb, la, rtol=1e-4, atol=1e-4 * np.abs(la).max())
                np.testing.assert_array_equal(on.generate(tok[0, :5], mod[0, :5], max_tokens=8, seed=1, temperature=0),
                                              cpu.generate(tok[0, :5], mod[0, :5], max_tokens=8, seed=1, temperature=0))
            ran.append(name)
        if not ran:
            self.skipTest("no device backend starts here")


class Memory(Base):
    def test_cycles_do_not_grow(self):
        """1,000 Context + Model create/close cycles, then 1,000 State and
        Sampler cycles on one model, then 1,000 Models on one context: the
        resident set grows by less than 4 MiB after a warm-up (allocator
        caches and oneDNN's primitive cache settle in the warm-up)."""
        if os.environ.get("MOM_SANITIZED"):
            self.skipTest("a sanitizer build: ASan's quarantine keeps freed blocks resident (the plain build runs this)")
        tok, mod = random_batch(np.random.default_rng(9), B=1, T=4)

        def ctx_and_model():
            with libmom.Context(threads=1) as ctx:
                libmom.Model.create(ctx, {"n_modalities": 2, "vocab_size": 50, "d_model": 16, "n_layer": 1}, seed=1)

        m = libmom.Model.create(self.ctx, {"n_modalities": 2, "vocab_size": 50, "d_model": 16, "n_layer": 1})

        def state_and_sampler():
            st = m.state(n_seq=2)
            st.step([1, 2], 0)
            m.sampler(2).close()
            del st  # freed by garbage collection, not close()

        def model_on_one_context():
            x = libmom.Model.create(self.ctx, {"n_modalities": 2, "vocab_size": 50, "d_model": 16, "n_layer": 1})
            x.loss(tok % 50, mod % 2)
            x.close()

        for cycle in (ctx_and_model, state_and_sampler, model_on_one_context):
            for _ in range(100):
                cycle()
            gc.collect()
            before = rss_bytes()
            for _ in range(1000):
                cycle()
            gc.collect()
            grown = rss_bytes() - before
            self.assertLess(grown, 4 << 20, f"{cycle.__name__}: RSS grew {grown} bytes over 1,000 cycles")


if __name__ == "__main__":
    unittest.main()
