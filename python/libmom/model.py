"""libmom.Model: a mom_model: its parameters by name, training, logits, and
the inference objects made from it (State, Sampler, generate)."""
import ctypes
import json

import numpy as np

from . import _arrays as arr
from ._handle import Handle, Owner
from ._lib import (SPECIAL_NAMES, Batch, Config, Losses as CLosses, ModelInfo, OptimSettings, encode_path, layout_dict,
                   lib)
from .context import context_ptr
from .errors import ERR_INVALID_ARG, ERR_NOT_FOUND, Error, check
from .generate import generate
from .losses import Losses
from .sampler import Sampler
from .state import State

def _json_value(v):
    """numpy scalars and arrays in a config dict, as JSON takes them."""
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise Error(ERR_INVALID_ARG, f"config: value {v!r} of type {type(v).__name__} is not a number, string, list or dict")


class Model(Owner):
    """A Mixture-of-Mamba model. Make one with Model.create(ctx, config, seed)
    or Model.load(ctx, path); it keeps its Context alive, and closing that
    Context closes the model (later calls raise libmom.Error).

    Batches are numpy arrays: token ids (int32) and each token's modality
    (uint8), rows of equal length. train_step, loss and backward take B rows
    of T+1 tokens, the inputs being [:, :-1] and the targets [:, 1:]; logits
    takes the inputs alone. Other integer dtypes are converted when every
    value fits (a copy); see each method for the copies it makes.
    """

    def __init__(self, ctx, ptr):
        """Not for direct use: Model.create or Model.load."""
        self._ctx = ctx
        self._handle = Handle(ptr, "Model", lib.mom_model_destroy, ctx._handle)
        # A copy: the struct mom_model_config points into is freed with the model.
        cfg = Config.from_buffer_copy(lib.mom_model_config(ptr).contents)
        self.n_modalities = cfg.n_modalities
        self.vocab_size = cfg.vocab_size
        self._layout = cfg.vocab_layout
        self._patch_dim = lib.mom_patch_dim(ctypes.byref(cfg.patches))
        self._names = [lib.mom_model_tensor_name(ptr, i).decode() for i in range(lib.mom_model_n_tensors(ptr))]
        self._shapes = {n: self._tensor_shape(ptr, n) for n in self._names}

    @classmethod
    def create(cls, ctx, config=None, seed=0):
        """A new model with freshly initialised weights.

        ctx:    the libmom.Context it runs on.
        config: a dict of mom_config fields, as a config JSON file has them
                (n_modalities, vocab_size, d_model, n_layer, d_state, d_conv,
                expand, dt_rank, decouple: a list of "in", "x", "dt", "out",
                tie_embeddings, norm_eps, vocab_layout: {"special", "text",
                "image", "speech"} (a pretrained order adds "text_first"
                and the ids "bos", "eos", "boi", "eoi", "bosp", "eosp",
                "pad"), patches: {"patch_size", "image_size",
                "channels"}, time_dim, diffusion_weight); missing fields, and
                fields given as None, keep mom_config_default's values (so
                "vocab_layout": dataset.vocab_layout works for a dataset
                without one). None: the defaults. An unknown field or a value
                that does not fit raises libmom.Error naming it.
        seed:   the initialisation's random seed (an int in [0, 2^64)).
        """
        cp = context_ptr(ctx)
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise Error(ERR_INVALID_ARG, f"config: {type(config).__name__} is not a dict of config fields")
        text = json.dumps({k: v for k, v in config.items() if v is not None}, default=_json_value).encode()
        cfg = Config()
        check(lib.mom_config_parse_json(cp, text, len(text), ctypes.byref(cfg)), cp)
        out = ctypes.c_void_p()
        check(lib.mom_model_create(cp, ctypes.byref(cfg), arr.as_int(seed, "seed", 0, 2**64 - 1), ctypes.byref(out)),
              cp)
        return cls(ctx, out.value)

    @classmethod
    def load(cls, ctx, path):
        """A model from a safetensors checkpoint (Model.save's, or mom train's)."""
        cp = context_ptr(ctx)
        out = ctypes.c_void_p()
        check(lib.mom_model_load(cp, encode_path(path), ctypes.byref(out)), cp)
        return cls(ctx, out.value)

    def quantize(self, fmt):
        """A copy for inference with "q8" or "q4" weights
        (mom_model_quantize): each modality's copy of every projection, the
        LM head and a tied embedding; the rest stays fp32. Training it
        raises libmom.Error (ERR_UNSUPPORTED)."""
        m, c = self._ptrs()
        formats = {"q8": 1, "q4": 2}  # MOM_WEIGHTS_Q8, _Q4
        if fmt not in formats:
            raise Error(ERR_INVALID_ARG, f"quantize: format {fmt!r} is not 'q8' or 'q4'")
        out = ctypes.c_void_p()
        check(lib.mom_model_quantize(m, formats[fmt], ctypes.byref(out)), c)
        return Model(self._ctx, out.value)

    def _ptrs(self):
        """(the model, its context), both open, else libmom.Error."""
        return self._handle.get(), self._ctx._handle.get()

    def save(self, path):
        """Writes the weights and the config as safetensors (a temporary file,
        fsynced, renamed), under the reference PyTorch module's tensor names."""
        m, c = self._ptrs()
        check(lib.mom_model_save(m, encode_path(path)), c)

    def save_grads(self, path):
        """Writes the gradients as safetensors under the parameter names."""
        m, c = self._ptrs()
        check(lib.mom_model_save_grads(m, encode_path(path)), c)

    def save_optim(self, path, rng_state=0):
        """Writes the optimizer state (step, AdamW moments) and rng_state, an
        int of your own (a data sampler's state), as a second safetensors file."""
        m, c = self._ptrs()
        check(lib.mom_model_save_optim(m, encode_path(path), arr.as_int(rng_state, "rng_state", 0, 2**64 - 1)), c)

    def load_optim(self, path):
        """Reads save_optim's file into this model; returns its rng_state."""
        m, c = self._ptrs()
        rng = ctypes.c_uint64()
        check(lib.mom_model_load_optim(m, encode_path(path), ctypes.byref(rng)), c)
        return rng.value

    # ---- what the model is ------------------------------------------------

    @property
    def config(self):
        """The config as a dict (mom_config_to_json's fields)."""
        m, _ = self._ptrs()
        buf = ctypes.create_string_buffer(4096)
        check(lib.mom_config_to_json(lib.mom_model_config(m), buf, len(buf)), None)
        return json.loads(buf.value.decode())

    @property
    def vocab_layout(self):
        """The vocabulary layout as a dict {"special", "text", "image",
        "speech"} (the form config takes), or None when the model has none.
        A pretrained order (mom convert --add-image-codes ...) adds
        "text_first": 1 and each special token's id ("bos", "eos", "boi",
        "eoi", "bosp", "eosp", "pad")."""
        self._ptrs()
        return layout_dict(self._layout)

    def special_token(self, name):
        """The id of a special token ("bos", "eos", "boi", "eoi", "bosp",
        "eosp" or "pad") in this model's vocabulary (mom_vocab_special)."""
        self._ptrs()
        if name not in SPECIAL_NAMES:
            raise Error(ERR_INVALID_ARG, f"special_token: {name!r} is not one of {', '.join(SPECIAL_NAMES)}")
        return lib.mom_vocab_special(ctypes.byref(self._layout), SPECIAL_NAMES.index(name))

    def token_modality(self, token):
        """The modality of a token id under the vocabulary layout
        (mom_vocab_layout_modality); -1 outside it or without a layout."""
        self._ptrs()
        return lib.mom_vocab_layout_modality(ctypes.byref(self._layout), arr.as_int(token, "token"))

    @property
    def info(self):
        """Sizes and costs (mom_model_info) as a dict: n_params, n_params_active,
        train_flops_per_token, train_matmul_flops_per_token, d_inner, dt_rank."""
        m, c = self._ptrs()
        i = ModelInfo()
        check(lib.mom_model_get_info(m, ctypes.byref(i)), c)
        return {f: getattr(i, f) for f, _ in ModelInfo._fields_ if f != "reserved"}

    @property
    def steps_done(self):
        """Optimizer steps taken (the schedule's step counter)."""
        m, _ = self._ptrs()
        return lib.mom_model_steps_done(m)

    @property
    def tensor_names(self):
        """The parameter tensors' names, in the model's table order."""
        self._ptrs()
        return list(self._names)

    def tensor_shape(self, name):
        """The shape of tensor `name` (PyTorch's: Linear weights [out, in])."""
        self._ptrs()
        self._known(name)
        return self._shapes[name]

    def _tensor_shape(self, m, name):
        nd = ctypes.c_int()
        shape = (ctypes.c_int64 * 4)()
        check(lib.mom_model_tensor_shape(m, name.encode(), ctypes.byref(nd), shape), self._ctx._handle.get())
        return tuple(shape[:nd.value])

    def _known(self, name):
        if not isinstance(name, str) or name not in self._shapes:
            raise Error(ERR_NOT_FOUND, f"no tensor named {name!r} in this model (Model.tensor_names lists them)")

    # ---- parameters and gradients by name ------------------------------------

    def _read(self, fn, name):
        m, c = self._ptrs()
        self._known(name)
        out = np.empty(self._shapes[name], dtype=np.float32)
        check(fn(m, name.encode(), arr.ptr(out), out.size), c)
        return out

    def get_param(self, name):
        """A copy of parameter `name` as a float32 array of its shape."""
        return self._read(lib.mom_model_get_param, name)

    def grad(self, name):
        """A copy of the gradient of parameter `name` (float32, its shape)."""
        return self._read(lib.mom_model_get_grad, name)

    def _checked_param(self, name, value):
        """value as the float32 array set_param takes: shape and finiteness checked."""
        self._known(name)
        a = arr.floats(value, name)
        if a.shape != self._shapes[name]:
            raise Error(ERR_INVALID_ARG, f"{name}: shape {a.shape} is not the model's {self._shapes[name]}")
        bad = ~np.isfinite(a)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise Error(ERR_INVALID_ARG, f"{name}: element {list(idx)} is {a[idx]}, not finite")
        return a

    def set_param(self, name, value):
        """Sets parameter `name` from an array of its shape (float32; float16,
        or float64 holding exact float32 values, are converted: a copy).
        Refused, changing nothing: an unknown name, another shape, a
        non-finite value."""
        m, c = self._ptrs()
        a = self._checked_param(name, value)
        check(lib.mom_model_set_param(m, name.encode(), arr.ptr(a), a.size), c)

    def state_dict(self):
        """{tensor name: float32 array}: a copy of every parameter, in table
        order, under the reference PyTorch module's names and shapes (for
        torch: {k: torch.from_numpy(v) for k, v in m.state_dict().items()})."""
        return {n: self.get_param(n) for n in self.tensor_names}

    def load_state_dict(self, state_dict, strict=True):
        """Sets parameters by name from {name: array} (state_dict's form; torch
        tensors on the CPU work through numpy). Every entry is checked before
        any is set, so a refused dict changes nothing: an unknown name
        (ERR_NOT_FOUND), a shape other than the model's, a dtype that does
        not convert to float32 without loss, a non-finite value; with strict
        (the default) also a tensor of the model that the dict lacks."""
        self._ptrs()
        checked = {}
        for name, value in state_dict.items():
            checked[name] = self._checked_param(name, value)
        missing = [n for n in self._names if n not in checked]
        if strict and missing:
            raise Error(ERR_NOT_FOUND, f"load_state_dict: the dict lacks {len(missing)} of the model's tensors: "
                        f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} (strict=False sets the others)")
        m, c = self._ptrs()
        for name, a in checked.items():  # checked above: no second pass over the values
            check(lib.mom_model_set_param(m, name.encode(), arr.ptr(a), a.size), c)

    def grads(self):
        """{tensor name: float32 array}: a copy of every gradient (what
        backward added since the last zero_grad)."""
        return {n: self.grad(n) for n in self.tensor_names}

    def grads_flat(self):
        """Every gradient as one float32 array of n_params, the tensors in
        table order end to end (what data-parallel training sums)."""
        m, c = self._ptrs()
        out = np.empty(self.info["n_params"], dtype=np.float32)
        check(lib.mom_model_get_grads(m, arr.ptr(out), out.size), c)
        return out

    def set_grads_flat(self, grads):
        """Replaces every gradient from grads_flat's form."""
        m, c = self._ptrs()
        a = arr.floats(grads, "grads")
        check(lib.mom_model_set_grads(m, arr.ptr(a.reshape(-1)), a.size), c)

    def zero_grad(self):
        """Sets every gradient to zero."""
        m, c = self._ptrs()
        check(lib.mom_model_zero_grad(m), c)

    # ---- batches --------------------------------------------------------------

    def _batch(self, tokens, modality, targets, target_modality, patches, noise_seed, low_t_fraction):
        """A mom_batch over arrays kept alive in the returned tuple, and a
        function that adds the array index to a C message about a position."""
        tok = arr.integers(tokens, np.int32, "tokens")
        if targets is None:
            arr.expect_ndim(tok, (2,), "tokens", "(B, T+1): the inputs are [:, :-1], the targets [:, 1:]")
            if tok.shape[1] < 2:
                raise Error(ERR_INVALID_ARG, f"tokens: shape {tok.shape}: rows of T+1 >= 2 tokens are needed "
                            "(the inputs [:, :-1], the targets [:, 1:])")
            mod = arr.modality_like(modality, tok)
            inp, tgt = np.ascontiguousarray(tok[:, :-1]), np.ascontiguousarray(tok[:, 1:])
            imod, tmod = np.ascontiguousarray(mod[:, :-1]), np.ascontiguousarray(mod[:, 1:])
            names, shift = ("tokens", "modality", "tokens", "modality"), 1
        else:
            arr.expect_ndim(tok, (2,), "tokens", "(B, T) with targets given")
            inp, imod = tok, arr.modality_like(modality, tok)
            tgt = arr.integers(targets, np.int32, "targets")
            arr.same_shape(inp, tgt, "tokens", "targets")
            if target_modality is None:
                raise Error(ERR_INVALID_ARG, "target_modality: needed with targets (B, T)")
            tmod = arr.modality_like(target_modality, tgt, "target_modality")
            names, shift = ("tokens", "modality", "targets", "target_modality"), 0
        B, T = inp.shape
        if B == 0 or T == 0:
            raise Error(ERR_INVALID_ARG, f"tokens: shape {tok.shape} holds no position")
        pat = None
        if patches is not None:
            pat = arr.floats(patches, "patches")
            if pat.shape != (B, T, self._patch_dim):
                raise Error(ERR_INVALID_ARG, f"patches: shape {pat.shape} is not (B, T, patch_dim) = "
                            f"{(B, T, self._patch_dim)}")
        b = Batch(B=B, T=T, tokens=arr.ptr(inp), modality=arr.ptr(imod), targets=arr.ptr(tgt),
                  target_modality=arr.ptr(tmod), patches=arr.ptr(pat),
                  noise_seed=arr.as_int(noise_seed, "noise_seed", 0, 2**64 - 1),
                  low_t_fraction=arr.as_float(low_t_fraction, "low_t_fraction"))

        def locate(msg):
            return arr.locate_position(msg, (B, T), names, shift)
        return b, (inp, imod, tgt, tmod, pat), locate

    def _run_batch(self, fn, tokens, modality, targets, target_modality, patches, noise_seed, low_t_fraction,
                   *extra):
        m, c = self._ptrs()
        b, keep, locate = self._batch(tokens, modality, targets, target_modality, patches, noise_seed,
                                      low_t_fraction)
        out = CLosses()
        check(fn(m, ctypes.byref(b), *extra, ctypes.byref(out)), c, locate)
        return out

    def loss(self, tokens, modality, *, targets=None, target_modality=None, patches=None, noise_seed=0,
             low_t_fraction=0.0):
        """The losses of a batch, forward only: the model and its gradients
        are unchanged. Arguments and copies as train_step's; returns Losses."""
        out = self._run_batch(lib.mom_model_forward, tokens, modality, targets, target_modality, patches,
                              noise_seed, low_t_fraction)
        return Losses(out, self.n_modalities)

    def backward(self, tokens, modality, grad_scale=1.0, *, targets=None, target_modality=None, patches=None,
                 noise_seed=0, low_t_fraction=0.0):
        """Forward and backward of a batch: the gradients of the mean loss,
        times grad_scale (1/k to accumulate k batches), are ADDED to the
        gradients (zero_grad clears them; grads() reads them). Arguments and
        copies as train_step's; returns the batch's Losses."""
        out = self._run_batch(lib.mom_model_backward, tokens, modality, targets, target_modality, patches,
                              noise_seed, low_t_fraction, ctypes.c_float(arr.as_float(grad_scale, "grad_scale")))
        return Losses(out, self.n_modalities)

    def step(self, lr=1e-3, *, weight_decay=0.1, clip=1.0, betas=(0.9, 0.95), eps=1e-8, warmup_steps=0,
             total_steps=0, min_lr_ratio=0.1):
        """One AdamW step with the gradients as they are (after backward):
        clipping, then the update; returns the gradient norm before clipping.
        Arguments as train_step's. A non-finite gradient raises libmom.Error
        (ERR_NONFINITE) naming the first tensor affected, the model unchanged."""
        m, c = self._ptrs()
        s = _optim_settings(lr, weight_decay, clip, betas, eps, warmup_steps, total_steps, min_lr_ratio)
        norm = ctypes.c_float()
        check(lib.mom_model_step(m, ctypes.byref(s), ctypes.byref(norm)), c)
        return norm.value

    def train_step(self, tokens, modality, lr=1e-3, *, weight_decay=0.1, clip=1.0, betas=(0.9, 0.95), eps=1e-8,
                   warmup_steps=0, total_steps=0, min_lr_ratio=0.1, targets=None, target_modality=None,
                   patches=None, noise_seed=0, low_t_fraction=0.0):
        """One training step on a batch: zero_grad, backward, then AdamW
        (mom_model_train_step). Returns the batch's Losses, computed before
        the update, with grad_norm (before clipping) set.

        tokens:        (B, T+1) token ids, int32 (other integer dtypes whose
                       values fit are converted: a copy). Row b's inputs are
                       tokens[b, :-1] and its targets tokens[b, 1:].
        modality:      (B, T+1) each token's modality id, uint8 (ints or bools
                       that fit are converted), or one int for every token. A
                       target's modality is modality[:, 1:].
        lr:            the learning rate: constant unless warmup_steps or
                       total_steps ask for a schedule.
        weight_decay:  AdamW's decoupled weight decay (the embedding and the
                       projection matrices only); default 0.1.
        clip:          the global gradient norm is clipped to this; None or 0: no clipping.
        betas, eps:    AdamW's (beta1, beta2) and epsilon; default (0.9, 0.95), 1e-8.
        warmup_steps:  linear warmup from lr/warmup_steps over this many steps (default 0: none).
        total_steps:   > warmup_steps: cosine decay to min_lr_ratio * lr at this
                       step; 0 (default): no decay. The schedule counts the
                       model's steps (steps_done), which save_optim/load_optim keep.
        min_lr_ratio:  the decay's floor as a fraction of lr (default 0.1).
        targets, target_modality: instead of the split above, tokens and
                       modality are the (B, T) inputs and these the (B, T)
                       targets and their modalities; a target -1 is ignored.
        patches:       continuous-image models: (B, T, patch_dim) float32, the
                       clean patch of each input image position (Dataset.patches).
        noise_seed, low_t_fraction: continuous images: the seed of each image's
                       timestep and noise, and the share of images given t < 500.

        Copies: the (B, T+1) tokens and modality are split into the contiguous
        (B, T) inputs and targets C reads (one copy each). Bad input (a token
        or modality id out of range, a wrong dtype or shape) raises
        libmom.Error naming the value and where it is, the model unchanged; a
        non-finite gradient raises ERR_NONFINITE with the step skipped.
        """
        s = _optim_settings(lr, weight_decay, clip, betas, eps, warmup_steps, total_steps, min_lr_ratio)
        norm = ctypes.c_float()
        m, c = self._ptrs()
        b, keep, locate = self._batch(tokens, modality, targets, target_modality, patches, noise_seed,
                                      low_t_fraction)
        out = CLosses()
        check(lib.mom_model_train_step(m, ctypes.byref(b), ctypes.byref(s), ctypes.byref(out), ctypes.byref(norm)),
              c, locate)
        return Losses(out, self.n_modalities, norm.value)

    def evaluate(self, dataset, batch, seq, max_batches=0):
        """The held-out Losses over a Dataset in consecutive (batch, seq)
        windows; max_batches 0: the whole dataset."""
        from .dataset import Dataset  # here: dataset.py imports this module
        m, c = self._ptrs()
        if not isinstance(dataset, Dataset):
            raise Error(ERR_INVALID_ARG, f"evaluate: dataset is a {type(dataset).__name__}, not a libmom.Dataset")
        d = dataset._handle.get()
        out = CLosses()
        check(lib.mom_model_evaluate(m, d, arr.as_int(batch, "batch", 1, 2**31 - 1), arr.as_int(seq, "seq", 1, 2**31 - 1),
                                     arr.as_int(max_batches, "max_batches", 0), ctypes.byref(out)), c)
        return Losses(out, self.n_modalities)

    def logits(self, tokens, modality):
        """The logits after every position: tokens (B, T) int32 and modality
        (B, T) uint8 (or one int), each row from an empty state, give a new
        float32 array (B, T, vocab_size); a 1-D row (T,) gives (T, vocab_size).
        Converted dtypes and non-contiguous views (tok[:, :-1]) are copied."""
        m, c = self._ptrs()
        tok = arr.integers(tokens, np.int32, "tokens")
        arr.expect_ndim(tok, (1, 2), "tokens", "(B, T) or (T,)")
        mod = arr.modality_like(modality, tok)
        rows = tok.reshape(1, -1) if tok.ndim == 1 else tok
        B, T = rows.shape
        if B == 0 or T == 0:
            raise Error(ERR_INVALID_ARG, f"tokens: shape {tok.shape} holds no position")
        out = np.empty(tok.shape + (self.vocab_size,), dtype=np.float32)
        check(lib.mom_model_logits(m, B, T, arr.ptr(tok), arr.ptr(mod), arr.ptr(out)), c,
              lambda msg: arr.locate_position(msg, tok.shape))
        return out

    # ---- inference ------------------------------------------------------------

    def state(self, n_seq=1, max_tokens=0):
        """A recurrent inference State of n_seq sequences, each allowed
        max_tokens tokens (0: no limit). See libmom.State."""
        return State(self, n_seq, max_tokens)

    def sampler(self, n_seq=1, *, temperature=1.0, top_k=0, top_p=1.0, seed=0, image_tokens=0, speech_tokens=500):
        """A Sampler drawing next tokens for n_seq sequences. See libmom.Sampler."""
        return Sampler(self, n_seq, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                       image_tokens=image_tokens, speech_tokens=speech_tokens)

    def generate(self, prompt_tokens, prompt_modality, max_tokens=64, seed=0, temperature=1.0, top_k=0, top_p=1.0,
                 *, image_tokens=0, speech_tokens=500, stop_at_eos=None, token_modality=None):
        """Samples continuations of a prompt, as `mom generate` does: the
        prompt is prefilled into a State, then each step draws a token per
        sequence with a Sampler and feeds it back.

        prompt_tokens:   (T,) one prompt, or (n, T) n prompts of one length
                         sampled together (int32; ints that fit are converted).
        prompt_modality: the prompt tokens' modalities, same shape, or one int.
        max_tokens:      tokens to draw per sequence.
        seed, temperature, top_k, top_p: as mom_sampling (temperature 0:
                         greedy). The same seed gives the same tokens.
        image_tokens, speech_tokens: with a vocabulary layout, the codes per
                         image (0: EOI may come any time) and the most units
                         per recording.
        stop_at_eos:     end a sequence at the EOS token (special_token("eos"));
                         default: when the model has a vocabulary layout.
        token_modality:  the modality each sampled token is fed back with:
                         None: the vocabulary layout's (mom_vocab_layout_modality),
                         or, without a layout, the last prompt token's; else an
                         array (vocab_size,) mapping token id -> modality.

        Returns the sampled token ids alone, the prompt not included, as a
        new int32 array: (max_tokens,) for one prompt, cut after EOS when the
        sequence stopped there (the EOS kept as its last element); (n,
        max_tokens) for n prompts, -1 after a row's EOS.
        """
        return generate(self, prompt_tokens, prompt_modality, max_tokens, seed, temperature, top_k, top_p,
                        image_tokens, speech_tokens, stop_at_eos, token_modality)

    def __repr__(self):
        if self.closed:
            return "<libmom.Model closed>"
        return f"<libmom.Model {self.config}>"


def _optim_settings(lr, weight_decay, clip, betas, eps, warmup_steps, total_steps, min_lr_ratio):
    s = OptimSettings()
    lib.mom_optim_default_settings(ctypes.byref(s))
    s.lr = arr.as_float(lr, "lr")
    s.weight_decay = arr.as_float(weight_decay, "weight_decay")
    s.clip_norm = 0.0 if clip is None else arr.as_float(clip, "clip")
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise Error(ERR_INVALID_ARG, f"betas: {betas!r} is not a pair (beta1, beta2)") from None
    s.beta1, s.beta2 = arr.as_float(b1, "betas[0]"), arr.as_float(b2, "betas[1]")
    s.eps = arr.as_float(eps, "eps")
    s.warmup_steps = arr.as_int(warmup_steps, "warmup_steps", 0, 2**31 - 1)
    s.total_steps = arr.as_int(total_steps, "total_steps", 0, 2**31 - 1)
    s.min_lr_ratio = arr.as_float(min_lr_ratio, "min_lr_ratio")
    return s
