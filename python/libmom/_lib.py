"""The C library: finding libmom.so, its structs, and one ctypes prototype
per call of include/mom.h that the package uses.

Where the library comes from, first found wins:
  1. the environment variable LIBMOM_LIBRARY (a path to libmom.so);
  2. a libmom.so* next to this file (a copy placed in the package);
  3. ctypes.CDLL("libmom.so.1"): the dynamic loader's search, which honours
     LD_LIBRARY_PATH and the ld.so cache (an installed libmom).

The Structures mirror mom.h field for field, the reserved space included
(tests/struct_layout.c prints the C sizes and offsets; the python suite
holds them and the header's field lists to these). Handles are c_void_p.
"""
import ctypes
import glob
import os
from ctypes import (POINTER, Structure, c_char_p, c_double, c_float, c_int, c_int32, c_int64, c_size_t, c_uint,
                    c_uint8, c_uint64, c_void_p)

# The C library's version this package is written for, as far as its ABI
# goes: the major, and before 1.0 the minor too (0.2 grew mom_vocab_layout).
# A library of another may have moved a struct or a call.
EXPECTED_ABI = "0.2"
MAX_MODALITIES = 8


# The special tokens in MOM_TOK_* order, by their config JSON names.
SPECIAL_NAMES = ("bos", "eos", "boi", "eoi", "bosp", "eosp", "pad")


class VocabLayout(Structure):
    _fields_ = [("n_special", c_int), ("n_text", c_int), ("n_image", c_int), ("n_speech", c_int),
                ("text_first", c_int), ("special_id", c_int * len(SPECIAL_NAMES))]


# A vocab_layout dict's keys (as config JSON has them) and their fields; a
# pretrained order (text_first 1) also has "text_first" and SPECIAL_NAMES.
LAYOUT_KEYS = (("special", "n_special"), ("text", "n_text"), ("image", "n_image"), ("speech", "n_speech"))


def layout_dict(lay):
    """A mom_vocab_layout as the dict config JSON has (None when unset)."""
    if not lib.mom_vocab_layout_is_set(ctypes.byref(lay)):
        return None
    d = {k: getattr(lay, f) for k, f in LAYOUT_KEYS}
    if lay.text_first:
        d["text_first"] = lay.text_first
        d.update(zip(SPECIAL_NAMES, lay.special_id))
    return d


class PatchGeometry(Structure):
    _fields_ = [("patch_size", c_int), ("image_size", c_int), ("channels", c_int)]


class Config(Structure):
    _fields_ = [("n_modalities", c_int), ("vocab_size", c_int), ("d_model", c_int), ("n_layer", c_int),
                ("d_state", c_int), ("d_conv", c_int), ("expand", c_int), ("dt_rank", c_int),
                ("decouple", c_uint), ("tie_embeddings", c_int), ("norm_eps", c_float),
                ("vocab_layout", VocabLayout), ("patches", PatchGeometry), ("time_dim", c_int),
                ("diffusion_weight", c_float), ("weight_format", c_int), ("reserved_int", c_int),
                ("reserved", c_uint64 * 7)]


class CtxSettings(Structure):
    _fields_ = [("n_threads", c_int), ("cpu", c_char_p), ("matmul_bf16", c_int), ("backend", c_char_p),
                ("device", c_int), ("allow_software", c_int), ("reserved", c_uint64 * 8)]


class ModelInfo(Structure):
    _fields_ = [("n_params", c_int64), ("n_params_active", c_int64), ("train_flops_per_token", c_double),
                ("train_matmul_flops_per_token", c_double), ("d_inner", c_int), ("dt_rank", c_int),
                ("reserved", c_uint64 * 8)]


class Batch(Structure):
    _fields_ = [("B", c_int), ("T", c_int), ("tokens", POINTER(c_int32)), ("modality", POINTER(c_uint8)),
                ("targets", POINTER(c_int32)), ("target_modality", POINTER(c_uint8)),
                ("patches", POINTER(c_float)), ("noise_seed", c_uint64), ("low_t_fraction", c_float),
                ("reserved", c_uint64 * 8)]


class Losses(Structure):
    _fields_ = [("loss", c_double), ("by_modality", c_double * MAX_MODALITIES),
                ("count", c_int64 * MAX_MODALITIES), ("n_targets", c_int64), ("reserved", c_uint64 * 8)]


class OptimSettings(Structure):
    _fields_ = [("lr", c_float), ("beta1", c_float), ("beta2", c_float), ("eps", c_float),
                ("weight_decay", c_float), ("clip_norm", c_float), ("warmup_steps", c_int),
                ("total_steps", c_int), ("min_lr_ratio", c_float), ("reserved", c_uint64 * 8)]


class StateSettings(Structure):
    _fields_ = [("n_seq", c_int), ("max_tokens", c_int64), ("memory", c_void_p), ("memory_bytes", c_size_t),
                ("reserved", c_uint64 * 8)]


class Sampling(Structure):
    _fields_ = [("temperature", c_float), ("top_k", c_int), ("top_p", c_float), ("seed", c_uint64),
                ("image_tokens", c_int), ("speech_tokens", c_int), ("reserved", c_uint64 * 8)]


# Every public struct by its C name (the layout test walks this).
STRUCTS = {"mom_vocab_layout": VocabLayout, "mom_patch_geometry": PatchGeometry, "mom_config": Config,
           "mom_ctx_settings": CtxSettings, "mom_model_info": ModelInfo, "mom_batch": Batch,
           "mom_losses": Losses, "mom_optim_settings": OptimSettings, "mom_state_settings": StateSettings,
           "mom_sampling": Sampling}

_st = c_int          # mom_status
_h = c_void_p        # any opaque handle
_hp = POINTER(c_void_p)  # T **: destroy and create outputs
_i32p = POINTER(c_int32)
_u8p = POINTER(c_uint8)
_f32p = POINTER(c_float)
_i64p = POINTER(c_int64)

# name: (restype, argtypes)
_PROTOTYPES = {
    "mom_status_str": (c_char_p, [c_int]),
    "mom_version": (c_char_p, []),
    "mom_vocab_layout_modality": (c_int, [POINTER(VocabLayout), c_int32]),
    "mom_vocab_layout_is_set": (c_int, [POINTER(VocabLayout)]),
    "mom_vocab_special": (c_int32, [POINTER(VocabLayout), c_int]),
    "mom_patch_dim": (c_int, [POINTER(PatchGeometry)]),
    "mom_ctx_default_settings": (None, [POINTER(CtxSettings)]),
    "mom_ctx_create": (_st, [_hp, POINTER(CtxSettings)]),
    "mom_ctx_create_error": (c_char_p, []),
    "mom_ctx_destroy": (None, [_hp]),
    "mom_ctx_last_error": (c_char_p, [_h]),
    "mom_ctx_backend_name": (c_char_p, [_h]),
    "mom_cpu_features_string": (_st, [ctypes.c_char_p, c_size_t]),
    "mom_backend_name": (c_char_p, [c_int]),
    "mom_devices_string": (_st, [c_char_p, ctypes.c_char_p, c_size_t]),
    "mom_config_default": (None, [POINTER(Config)]),
    "mom_config_parse_json": (_st, [_h, c_char_p, c_size_t, POINTER(Config)]),
    "mom_config_to_json": (_st, [POINTER(Config), ctypes.c_char_p, c_size_t]),
    "mom_model_create": (_st, [_h, POINTER(Config), c_uint64, _hp]),
    "mom_model_load": (_st, [_h, c_char_p, _hp]),
    "mom_model_save": (_st, [_h, c_char_p]),
    "mom_model_quantize": (_st, [_h, c_int, _hp]),
    "mom_model_destroy": (None, [_hp]),
    "mom_model_config": (POINTER(Config), [_h]),
    "mom_model_get_info": (_st, [_h, POINTER(ModelInfo)]),
    "mom_model_n_tensors": (c_size_t, [_h]),
    "mom_model_tensor_name": (c_char_p, [_h, c_size_t]),
    "mom_model_tensor_shape": (_st, [_h, c_char_p, POINTER(c_int), _i64p]),
    "mom_model_get_param": (_st, [_h, c_char_p, _f32p, c_size_t]),
    "mom_model_set_param": (_st, [_h, c_char_p, _f32p, c_size_t]),
    "mom_model_get_grad": (_st, [_h, c_char_p, _f32p, c_size_t]),
    "mom_model_get_grads": (_st, [_h, _f32p, c_size_t]),
    "mom_model_set_grads": (_st, [_h, _f32p, c_size_t]),
    "mom_model_forward": (_st, [_h, POINTER(Batch), POINTER(Losses)]),
    "mom_model_backward": (_st, [_h, POINTER(Batch), c_float, POINTER(Losses)]),
    "mom_model_zero_grad": (_st, [_h]),
    "mom_model_save_grads": (_st, [_h, c_char_p]),
    "mom_optim_default_settings": (None, [POINTER(OptimSettings)]),
    "mom_model_step": (_st, [_h, POINTER(OptimSettings), _f32p]),
    "mom_model_train_step": (_st, [_h, POINTER(Batch), POINTER(OptimSettings), POINTER(Losses), _f32p]),
    "mom_model_steps_done": (c_int64, [_h]),
    "mom_model_save_optim": (_st, [_h, c_char_p, c_uint64]),
    "mom_model_load_optim": (_st, [_h, c_char_p, POINTER(c_uint64)]),
    "mom_model_logits": (_st, [_h, c_int, c_int, _i32p, _u8p, _f32p]),
    "mom_model_evaluate": (_st, [_h, _h, c_int, c_int, c_int64, POINTER(Losses)]),
    "mom_dataset_open": (_st, [_h, c_char_p, _hp]),
    "mom_dataset_destroy": (None, [_hp]),
    "mom_dataset_n_tokens": (c_int64, [_h]),
    "mom_dataset_n_modalities": (c_int, [_h]),
    "mom_dataset_vocab_size": (c_int64, [_h]),
    "mom_dataset_n_docs": (c_int64, [_h]),
    "mom_dataset_vocab_layout": (_st, [_h, POINTER(VocabLayout)]),
    "mom_dataset_patch_geometry": (_st, [_h, POINTER(PatchGeometry)]),
    "mom_dataset_n_patches": (c_int64, [_h]),
    "mom_dataset_tokens": (_i32p, [_h]),
    "mom_dataset_modalities": (_u8p, [_h]),
    "mom_dataset_check": (_st, [_h, _h]),
    "mom_dataset_fill_batch": (_st, [_h, c_int, c_int, _i64p, _i32p, _u8p, _i32p, _u8p]),
    "mom_dataset_fill_patches": (_st, [_h, c_int, c_int, _i64p, _f32p]),
    "mom_dataset_import_jsonl": (_st, [_h, c_char_p, c_char_p, c_int, c_int, POINTER(PatchGeometry)]),
    "mom_dataset_write": (_st, [_h, c_char_p, _i32p, _u8p, c_int64, _i64p, c_int64, c_int, c_int,
                                POINTER(VocabLayout), _f32p, POINTER(PatchGeometry)]),
    "mom_state_default_settings": (None, [POINTER(StateSettings)]),
    "mom_state_create": (_st, [_h, POINTER(StateSettings), _hp]),
    "mom_state_destroy": (None, [_hp]),
    "mom_state_length": (c_int64, [_h, c_int]),
    "mom_state_reset": (_st, [_h, c_int]),
    "mom_state_copy": (_st, [_h, c_int, _h, c_int]),
    "mom_state_prefill": (_st, [_h, c_int, c_int, c_int, _i32p, _u8p, _f32p]),
    "mom_state_step": (_st, [_h, _i32p, _u8p, _f32p]),
    "mom_sampling_default": (None, [POINTER(Sampling)]),
    "mom_sampler_create": (_st, [_h, POINTER(Sampling), c_int, _hp]),
    "mom_sampler_destroy": (None, [_hp]),
    "mom_sampler_accept": (_st, [_h, c_int, c_int32]),
    "mom_sampler_sample": (_st, [_h, c_int, _f32p, _i32p]),
}


def _candidates():
    """Where the library may be, in the order tried: (description, path or name)."""
    env = os.environ.get("LIBMOM_LIBRARY")
    if env:
        return [("LIBMOM_LIBRARY", env)]
    here = os.path.dirname(os.path.abspath(__file__))
    beside = sorted(glob.glob(os.path.join(here, "libmom.so*")))
    found = [("next to the package", p) for p in beside[:1]]
    return found + [("the dynamic loader (LD_LIBRARY_PATH, ld.so cache)", "libmom.so.1")]


def _load():
    tried = []
    for where, path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{where}: {e}")
    raise ImportError("libmom: cannot load the C library libmom.so; tried " + "; ".join(tried) +
                      ". Set LIBMOM_LIBRARY=/path/to/libmom.so (in a build tree: build/src/libmom.so) "
                      "or LD_LIBRARY_PATH to the folder that holds it.")


def _bind(cdll, path):
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            f = getattr(cdll, name)
        except AttributeError:
            raise ImportError(f"libmom: {path} has no {name}: it is older than this package") from None
        f.restype = restype
        f.argtypes = argtypes


lib, path = _load()
_bind(lib, path)
version = lib.mom_version().decode()
_abi = ".".join(version.split(".")[:2 if version.startswith("0.") else 1])
if _abi != EXPECTED_ABI:
    raise ImportError(f"libmom: {path} is libmom {version}, but this package is written for libmom "
                      f"{EXPECTED_ABI}.x (the same ABI); point LIBMOM_LIBRARY at a matching libmom.so")


def encode_path(p):
    """A str, bytes or os.PathLike path as the bytes C takes."""
    return os.fsencode(os.fspath(p))
