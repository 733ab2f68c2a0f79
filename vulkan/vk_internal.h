/* The Vulkan backend's internals, shared by its files: the device, its
 * buffers, and the one way an op runs a shader.
 *
 * Conventions every shader and op file follows:
 *  - A be_buf is one VkBuffer of float-sized elements; a bv is (buffer,
 *    element offset). A shader binds whole buffers as std430 storage
 *    buffers (`float data[]`, or `int data[]` for int32 views) at bindings
 *    0, 1, ... in the order the op passes them, and receives every view's
 *    element offset, and every shape, as push constants (at most 128 bytes:
 *    32 int32s).
 *  - A view whose buf is NULL (an absent operand: rows, hist, carry ...)
 *    binds a small dummy buffer; the op tells the shader through a push
 *    constant, and the shader never touches that binding.
 *  - Workgroup size is specialization constant 0 (`layout(local_size_x_id =
 *    0) in;`), set from vk_device.wg (64 unless the device says less);
 *    shaders assume no subgroup size. A shader with a fixed (2-D) workgroup
 *    simply does not declare constant 0 (Vulkan ignores it then).
 *  - Ops record into the backend's open command buffer, with a compute ->
 *    compute barrier after each dispatch; download (and destroy) submit it
 *    and wait. So a training step is a few submissions, not one per op.
 *  - Shaders live in vulkan/shaders/NAME.comp, compiled by glslc at build
 *    time and embedded; vk_shader(NAME) finds one by name.
 *  - Reductions use a fixed order (no float atomics): same inputs, same
 *    device, same bits. */
#ifndef MOM_VK_INTERNAL_H
#define MOM_VK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#include "backend.h"

/* An embedded SPIR-V module (vulkan/shaders, compiled at build time). */
typedef struct vk_spirv {
    const char *name;
    const uint32_t *code;
    size_t bytes;
} vk_spirv;
const vk_spirv *vk_shader(const char *name);

typedef struct vk_pipeline vk_pipeline;

#define VK_PROF_QUERIES 4096 /* timestamps per command buffer while profiling */
#define VK_PROF_SHADERS 64
typedef struct vk_backend vk_backend;

/* Partial sums of the gradient norm, added in order on the device by
 * clip_scale (vk_backend.reduce). */
#define VK_REDUCE_ELEMS 1024
/* Most storage buffers one pipeline binds (the scan's backward needs ~20). */
#define VK_MAX_BINDINGS 24
#define VK_SHADER_MAX_BUFFERS 15 /* the most any shader binds (scan_bwd_chunk) */
/* Push-constant bytes every pipeline layout declares (the spec's minimum). */
#define VK_PUSH_BYTES 128

/* The device and what we learned about it (vk_device.c). */
typedef struct vk_device {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger; /* VK_NULL_HANDLE without validation */
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    uint32_t mem_type;    /* host-visible coherent memory: mapped buffers */
    int unified;          /* that type is also device local (lavapipe, iGPUs) */
    int staged;           /* buffers live in dev_type, unmapped, and move
                             through a staging buffer (discrete GPUs;
                             MOM_VK_STAGING=1 forces it, for tests) */
    uint32_t dev_type;    /* device-local memory (staged), else mem_type */
    uint32_t wg;          /* workgroup size: specialization constant 0 */
    uint32_t subgroup;    /* the device's subgroup size (informative only) */
    int validation;       /* VK_LAYER_KHRONOS_validation is on */
} vk_device;

/* One buffer: a VkBuffer on its own memory, mapped for the backend's life
 * (map NULL: device-local memory the host reaches only by staging). */
struct be_buf {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *map;   /* host pointer to element 0 (memory is host coherent) */
    size_t n;    /* elements of 4 bytes */
    VkDeviceSize bytes; /* of its memory */
    be_buf *next, *prev; /* the backend's list of live buffers (destroy frees them) */
};

struct vk_backend {
    backend ops; /* first: a backend * of this backend is a vk_backend * */
    vk_device d;
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd;
    VkFence fence;
    int recording;              /* cmd is begun and holds work */
    VkDescriptorPool desc_pool; /* reset at every flush */
    uint32_t sets_used, descs_used;
    VkPipelineCache cache;
    vk_pipeline *pipelines;     /* list, by name */
    be_buf *bufs;               /* live buffers */
    be_buf *dummy;              /* bound for views with buf NULL */
    be_buf *reduce;             /* VK_REDUCE_ELEMS floats: clip_scale's partial sums */
    be_buf *scratch;            /* vk_scratch's buffer (NULL until asked) */
    uint64_t submits;           /* command buffers submitted so far */
    int failed;                 /* a failure since the model last asked; err says which */
    be_buf *staging;            /* host-visible, VK_STAGING_ELEMS: moves data to and from unmapped buffers */
    /* GPU timestamps around each dispatch while profiling (bench): the
     * shader names of the open command buffer's pairs of queries, and the
     * totals per shader read back at each flush. */
    int profiling;
    uint32_t ts_bits; /* the queue's timestampValidBits */
    VkQueryPool qpool;
    uint32_t q_used;
    const char *q_name[VK_PROF_QUERIES / 2];
    struct { char name[64]; double seconds; long calls; } prof[VK_PROF_SHADERS];
    int n_prof;
    char err[512];
};

static inline vk_backend *vk_of(backend *be) { return (vk_backend *)be; }

/* The pipeline of shader `name` with n_bindings storage buffers, made on
 * first use and cached for the backend's life; NULL on failure (the
 * backend's error says why). */
vk_pipeline *vk_pipeline_get(vk_backend *vk, const char *name, int n_bindings);
/* The same with workgroup size wg (specialization constant 0) instead of
 * vk->d.wg (a reduction that wants 256 lanes); cached by (name, wg). */
vk_pipeline *vk_pipeline_get_wg(vk_backend *vk, const char *name, int n_bindings, uint32_t wg);
/* The workgroup size p was made with. */
uint32_t vk_pipeline_wg(const vk_pipeline *p);

/* Records one dispatch of p on views[0..n) (bound at 0..n-1), push
 * constants push[0..push_bytes), groups_x * groups_y * groups_z
 * workgroups, then a barrier. Returns 0, or -1 (the backend's error). */
int vk_dispatch(vk_backend *vk, vk_pipeline *p, const bv *views, int n, const void *push, size_t push_bytes,
                uint32_t groups_x, uint32_t groups_y, uint32_t groups_z);

/* vk_pipeline_get + vk_dispatch: what most ops do. 0 or -1. */
int vk_run(vk_backend *vk, const char *name, const bv *views, int n, const void *push, size_t push_bytes,
           uint32_t groups_x, uint32_t groups_y, uint32_t groups_z);

/* Workgroups of vk's size covering n invocations. More than the device's
 * maxComputeWorkGroupCount[0] (65535 at least) makes vk_dispatch fail: a
 * shader over more elements loops (grid stride) and uses vk_groups_max. */
uint32_t vk_groups(const vk_backend *vk, size_t n);
/* vk_groups capped at the device's limit, for grid-stride shaders. */
uint32_t vk_groups_max(const vk_backend *vk, size_t n);

/* vk_command.c: the open command buffer (begun on first use); NULL on failure. After
 * recording a transfer command into it, call vk_barrier. */
VkCommandBuffer vk_cmd(vk_backend *vk);
/* A full compute/transfer -> compute/transfer memory barrier in the open
 * command buffer (what vk_dispatch puts after each dispatch). */
void vk_barrier(vk_backend *vk);

/* Submits what is recorded and waits for it. */
int vk_flush(vk_backend *vk);

/* vk_pipeline.c, for vk_backend.c: the descriptor pool (0 or -1) and
 * freeing every pipeline. */
int vk_descriptor_pool_create(vk_backend *vk);
void vk_pipelines_destroy(vk_backend *vk);

/* Sets the last failure (printf format); returns -1. */
int vk_fail(vk_backend *vk, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The last failure, one line ("" when none). */
const char *vk_last_error(const vk_backend *vk);

/* vk_device.c: open a device: device >= 0, else the index MOM_VK_DEVICE
 * gives, else the best (GPUs first); CPU-type devices only with
 * allow_software. MOM_VK_VALIDATE turns on the validation layer,
 * synchronization validation included, where it is installed. 0, or -1
 * with err set. */
int vk_device_open(vk_device *d, int device, int allow_software, char *err, size_t err_cap);
void vk_device_close(vk_device *d);
/* "discrete GPU", "software (CPU)" ... */
const char *vk_device_type_name(const vk_device *d);
/* vk_memory.c: buffers of n elements (zeroed), on vk's memory type; NULL
 * (error set) on failure. */
be_buf *vk_buf_create(vk_backend *vk, size_t n);
/* A buffer in host-visible memory, mapped, whatever vk->d.staged says
 * (the staging buffer; read-back scratch). */
be_buf *vk_buf_create_host(vk_backend *vk, size_t n);
void vk_buf_destroy(vk_backend *vk, be_buf *b);
/* The backend's scratch buffer, at least n floats, for an op's
 * intermediate results (partial sums between two dispatches): what one op
 * leaves there the next op may overwrite (the barriers keep them in
 * order). Growing it submits the recorded work first, so an op asks for
 * it before recording the dispatches that use it. NULL (error set) on
 * failure. */
be_buf *vk_scratch(vk_backend *vk, size_t n);

/* Whether environment variable name is set to something other than "" or
 * "0": the one rule for the MOM_VK_* switches (ALLOW_SOFTWARE, VALIDATE,
 * STAGING). */
int vk_env_flag(const char *name);
/* "0: NAME (TYPE, Vulkan X.Y); 1: ..." for every device the loader lists
 * (the registry's list_devices). */
void vk_list_devices(char *buf, size_t cap);

/* Validation-layer messages (warnings and errors) seen by any Vulkan
 * backend of this process since it started: tests assert it stays 0. */
unsigned long vk_validation_messages(void);
/* Buffers, and bytes of device memory under them, alive in all Vulkan
 * backends of this process (each backend holds two or three of its own:
 * dummy, reduce, scratch). */
void vk_live_memory(unsigned long *buffers, unsigned long *bytes);

#endif
