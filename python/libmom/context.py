"""libmom.Context: a mom_ctx, the backend everything made from it runs on;
and the library-wide queries (version, backends, devices, CPU features)."""
import ctypes

from ._handle import Handle, Owner
from ._lib import CtxSettings, lib
from ._arrays import as_int
from .errors import ERR_INVALID_ARG, Error, check


class Context(Owner):
    """A libmom context: one backend (the CPU, or a device such as Vulkan)
    and its caches. Models and datasets are made from a context and keep it
    alive; closing the context (close(), the end of a with block, or garbage
    collection) closes every one of them first, and using one afterwards
    raises libmom.Error. Use a context and its objects from one thread at a
    time; several contexts may live in one process.

    Arguments (mom_ctx_settings):
      threads:        OpenMP threads for every call on this context; 0: OpenMP's default.
      backend:        "cpu", a device backend of this build ("vulkan"), or "auto"
                      (the first device backend that starts, else the CPU: then
                      last_error says why). None: $MOM_BACKEND, else "cpu".
      device:         the backend's device index (libmom.devices(backend) lists them);
                      -1: the backend's own choice. Only -1 with "auto".
      allow_software: let CPU emulations of a GPU (Mesa's lavapipe) count as devices.
      cpu:            the CPU kernels: None (best this CPU allows, or $MOM_CPU),
                      "avx512", "avx2", "neon" or "scalar" (also plain-C matmuls).
      matmul_bf16:    projections in bf16 through oneDNN (fp32 accumulation and
                      master weights).
    A context that cannot start raises libmom.Error with mom_ctx_create_error's reason.
    """

    def __init__(self, threads=0, backend=None, device=-1, allow_software=False, cpu=None, matmul_bf16=False):
        s = CtxSettings()
        lib.mom_ctx_default_settings(ctypes.byref(s))
        s.n_threads = as_int(threads, "threads", 0, 4096)
        s.device = as_int(device, "device", -1, 2**31 - 1)
        s.allow_software = 1 if allow_software else 0
        s.matmul_bf16 = 1 if matmul_bf16 else 0
        # The strings stay alive with the context, whatever the backend keeps of them.
        self._strings = [None if v is None else _text_arg(v, name).encode()
                         for name, v in (("backend", backend), ("cpu", cpu))]
        s.backend, s.cpu = self._strings
        out = ctypes.c_void_p()
        status = lib.mom_ctx_create(ctypes.byref(out), ctypes.byref(s))
        if status:
            raise Error(status, lib.mom_ctx_create_error().decode(errors="replace"))
        self._handle = Handle(out.value, "Context", lib.mom_ctx_destroy)

    @property
    def backend(self):
        """One line naming the backend and matmul path in use (mom_ctx_backend_name)."""
        return lib.mom_ctx_backend_name(self._handle.get()).decode()

    @property
    def last_error(self):
        """The message of the last failure on this context ("" when none); after
        backend="auto" fell back to the CPU, why."""
        return lib.mom_ctx_last_error(self._handle.get()).decode(errors="replace")

    def __repr__(self):
        return f"<libmom.Context {'closed' if self.closed else self.backend}>"


def context_ptr(ctx):
    """The mom_ctx of a Context argument; libmom.Error when it is not an open one."""
    if not isinstance(ctx, Context):
        raise Error(ERR_INVALID_ARG, f"ctx: {ctx!r} is not a libmom.Context")
    return ctx._handle.get()


def _text_arg(v, name):
    if not isinstance(v, str):
        raise Error(ERR_INVALID_ARG, f"{name}: {v!r} is not a string")
    return v


def version():
    """The running libmom.so's version, e.g. "0.2.0" (mom_version)."""
    return lib.mom_version().decode()


def backends():
    """The backends of this build: "cpu" first, then the device backends in
    the order backend="auto" tries them."""
    names = []
    while True:
        n = lib.mom_backend_name(len(names))
        if n is None:
            return names
        names.append(n.decode())


def devices(backend):
    """The devices a backend sees, usable or not, as mom_devices_string's
    one line ("0: NAME (TYPE ...); 1: ..."; "" when none)."""
    buf = ctypes.create_string_buffer(8192)
    status = lib.mom_devices_string(_text_arg(backend, "backend").encode(), buf, len(buf))
    if status:
        raise Error(status, f"devices: backend \"{backend}\" is not one of this build's: {', '.join(backends())}")
    return buf.value.decode()


def cpu_features():
    """The CPU features found (cpuid and OS support), one line."""
    buf = ctypes.create_string_buffer(1024)
    check(lib.mom_cpu_features_string(buf, len(buf)), None)
    return buf.value.decode()
