/* The Vulkan backend's op table and registry entry: buffers, transfers,
 * and the ops of ops_elementwise.c, ops_matmul.c and ops_time.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"
#include "vk_ops.h"

static be_buf *vkb_alloc(backend *be, size_t n)
{
    return vk_buf_create(vk_of(be), n);
}

static void vkb_release(backend *be, be_buf *b)
{
    if (!b) return;
    vk_backend *vk = vk_of(be);
    vk_flush(vk); /* recorded work may still use it */
    vk_buf_destroy(vk, b);
}

/* An upload is ordered with the ops recorded around it. A small one (a
 * batch's tokens, rows and targets: 64 KiB at most, Vulkan's limit) is
 * recorded into the command buffer itself (vkCmdUpdateBuffer), so a
 * training step does not submit for its inputs; a larger one (parameters,
 * patches) waits for the device to be idle and writes the mapped memory. */
#define VK_INLINE_UPLOAD_BYTES ((size_t)1 << 20) /* in vkCmdUpdateBuffer pieces of 64 KiB, its limit */
#define VK_UPDATE_PIECE 65536
/* Device-local buffers (a discrete GPU) move through the staging buffer
 * in pieces of VK_STAGING_ELEMS, each copy submitted before the piece is
 * reused. */
#define VK_STAGING_ELEMS ((size_t)1 << 22)

static void copy_record(vk_backend *vk, VkBuffer from, size_t from_off, VkBuffer to, size_t to_off, size_t n)
{
    VkCommandBuffer cb = vk_cmd(vk);
    if (!cb) return;
    VkBufferCopy region = {.srcOffset = (VkDeviceSize)from_off * 4, .dstOffset = (VkDeviceSize)to_off * 4,
                           .size = (VkDeviceSize)n * 4};
    vkCmdCopyBuffer(cb, from, to, 1, &region);
    vk_barrier(vk);
}

static void vkb_upload(backend *be, bv dst, const void *src, size_t n)
{
    vk_backend *vk = vk_of(be);
    if (!n) return;
    if (n * sizeof(float) <= VK_INLINE_UPLOAD_BYTES) {
        VkCommandBuffer cb = vk_cmd(vk);
        if (cb) {
            const size_t bytes = n * sizeof(float);
            for (size_t o = 0; o < bytes; o += VK_UPDATE_PIECE)
                vkCmdUpdateBuffer(cb, dst.buf->buffer, (VkDeviceSize)dst.off * 4 + o,
                                  bytes - o < VK_UPDATE_PIECE ? bytes - o : VK_UPDATE_PIECE, (const char *)src + o);
            vk_barrier(vk);
            return;
        }
    }
    vk_flush(vk);
    if (dst.buf->map) {
        memcpy((float *)dst.buf->map + dst.off, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i += VK_STAGING_ELEMS) {
        const size_t k = n - i < VK_STAGING_ELEMS ? n - i : VK_STAGING_ELEMS;
        memcpy(vk->staging->map, (const float *)src + i, k * sizeof(float));
        copy_record(vk, vk->staging->buffer, 0, dst.buf->buffer, dst.off + i, k);
        vk_flush(vk);
    }
}

static uint64_t vkb_submissions(backend *be) { return vk_of(be)->submits; }

static void vkb_download(backend *be, void *dst, bv src, size_t n)
{
    vk_backend *vk = vk_of(be);
    if (src.buf->map) {
        vk_flush(vk);
        if (n) memcpy(dst, (const float *)src.buf->map + src.off, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i += VK_STAGING_ELEMS) {
        const size_t k = n - i < VK_STAGING_ELEMS ? n - i : VK_STAGING_ELEMS;
        copy_record(vk, src.buf->buffer, src.off + i, vk->staging->buffer, 0, k);
        vk_flush(vk);
        memcpy((float *)dst + i, vk->staging->map, k * sizeof(float));
    }
}

static void vkb_zero(backend *be, bv dst, size_t n)
{
    vk_backend *vk = vk_of(be);
    if (!n) return;
    VkCommandBuffer cb = vk_cmd(vk);
    if (!cb) return;
    vkCmdFillBuffer(cb, dst.buf->buffer, (VkDeviceSize)dst.off * 4, (VkDeviceSize)n * 4, 0);
    vk_barrier(vk);
}

static void vkb_copy(backend *be, bv dst, bv src, size_t n)
{
    vk_backend *vk = vk_of(be);
    if (!n) return;
    VkCommandBuffer cb = vk_cmd(vk);
    if (!cb) return;
    VkBufferCopy region = {.srcOffset = (VkDeviceSize)src.off * 4, .dstOffset = (VkDeviceSize)dst.off * 4,
                           .size = (VkDeviceSize)n * 4};
    vkCmdCopyBuffer(cb, src.buf->buffer, dst.buf->buffer, 1, &region);
    vk_barrier(vk);
}

/* The device runs each op over all its lanes: there is no thread count. */
static int vkb_threads(backend *be, int n)
{
    (void)be;
    (void)n;
    return 1;
}

static const char *vkb_error(backend *be)
{
    vk_backend *vk = vk_of(be);
    if (!vk->failed) return NULL;
    vk->failed = 0;
    return vk->err;
}

static int vkb_profile(backend *be, int enable)
{
    vk_backend *vk = vk_of(be);
    if (vk_flush(vk)) return -1;
    if (enable && !vk->qpool) {
        uint32_t nq = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(vk->d.phys, &nq, NULL);
        VkQueueFamilyProperties qp[32];
        if (nq > 32) nq = 32;
        vkGetPhysicalDeviceQueueFamilyProperties(vk->d.phys, &nq, qp);
        vk->ts_bits = vk->d.queue_family < nq ? qp[vk->d.queue_family].timestampValidBits : 0;
        if (!vk->d.props.limits.timestampComputeAndGraphics || !vk->ts_bits)
            return vk_fail(vk, "%s has no timestamps on compute queues", vk->d.props.deviceName);
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = VK_PROF_QUERIES};
        VkResult r = vkCreateQueryPool(vk->d.dev, &qi, NULL, &vk->qpool);
        if (r != VK_SUCCESS) return vk_fail(vk, "vkCreateQueryPool failed (VkResult %d)", (int)r);
    }
    if (enable) vk->n_prof = 0;
    vk->profiling = enable;
    return 0;
}

static int vkb_profile_read(backend *be, int i, const char **name, double *seconds, long *calls)
{
    vk_backend *vk = vk_of(be);
    vk_flush(vk);
    if (i < 0 || i >= vk->n_prof) return 0;
    *name = vk->prof[i].name;
    *seconds = vk->prof[i].seconds;
    *calls = vk->prof[i].calls;
    return 1;
}

static void vkb_destroy(backend *be)
{
    if (!be) return;
    vk_backend *vk = vk_of(be);
    if (vk->d.dev) {
        if (vk->cmd_pool) vk_flush(vk);
        vkDeviceWaitIdle(vk->d.dev);
        while (vk->bufs) vk_buf_destroy(vk, vk->bufs); /* the dummy, the scratch, and any the caller left */
        vk_pipelines_destroy(vk);
        if (vk->cache) vkDestroyPipelineCache(vk->d.dev, vk->cache, NULL);
        if (vk->desc_pool) vkDestroyDescriptorPool(vk->d.dev, vk->desc_pool, NULL);
        if (vk->fence) vkDestroyFence(vk->d.dev, vk->fence, NULL);
        if (vk->qpool) vkDestroyQueryPool(vk->d.dev, vk->qpool, NULL);
        if (vk->cmd_pool) vkDestroyCommandPool(vk->d.dev, vk->cmd_pool, NULL); /* frees cmd */
    }
    vk_device_close(&vk->d);
    free(vk);
}

static int vkb_init(vk_backend *vk)
{
    VkDevice dev = vk->d.dev;
    VkCommandPoolCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
        .queueFamilyIndex = vk->d.queue_family,
    };
    VkResult r = vkCreateCommandPool(dev, &cpci, NULL, &vk->cmd_pool);
    if (r != VK_SUCCESS) return vk_fail(vk, "vkCreateCommandPool failed (VkResult %d)", (int)r);
    VkCommandBufferAllocateInfo cbai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    r = vkAllocateCommandBuffers(dev, &cbai, &vk->cmd);
    if (r != VK_SUCCESS) return vk_fail(vk, "vkAllocateCommandBuffers failed (VkResult %d)", (int)r);
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vkCreateFence(dev, &fci, NULL, &vk->fence);
    if (r != VK_SUCCESS) return vk_fail(vk, "vkCreateFence failed (VkResult %d)", (int)r);
    VkPipelineCacheCreateInfo pcci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    r = vkCreatePipelineCache(dev, &pcci, NULL, &vk->cache);
    if (r != VK_SUCCESS) return vk_fail(vk, "vkCreatePipelineCache failed (VkResult %d)", (int)r);
    if (vk_descriptor_pool_create(vk)) return -1;
    vk->dummy = vk_buf_create(vk, 4);
    vk->reduce = vk_buf_create_host(vk, VK_REDUCE_ELEMS); /* read on the host after a flush */
    vk->staging = vk->d.staged ? vk_buf_create_host(vk, VK_STAGING_ELEMS) : NULL;
    return vk->dummy && vk->reduce && (vk->staging || !vk->d.staged) ? 0 : -1;
}

/* The device: s->device, else MOM_VK_DEVICE, else the best; CPU-type
 * devices (lavapipe) only with s->allow_software or MOM_VK_ALLOW_SOFTWARE. */
static mom_status vkb_create(const mom_ctx_settings *s, backend **out, char *desc, size_t desc_cap)
{
    *out = NULL;
    if (s->matmul_bf16) {
        snprintf(desc, desc_cap, "bf16 matmuls are the CPU backend's (oneDNN)");
        return MOM_ERR_UNSUPPORTED;
    }
    vk_backend *vk = calloc(1, sizeof(*vk));
    if (!vk) {
        snprintf(desc, desc_cap, "out of host memory");
        return MOM_ERR_NOMEM;
    }
    const int allow_software = s->allow_software || vk_env_flag("MOM_VK_ALLOW_SOFTWARE");
    if (vk_device_open(&vk->d, s->device, allow_software, desc, desc_cap)) {
        free(vk);
        return MOM_ERR_UNSUPPORTED;
    }
    if (vkb_init(vk)) {
        snprintf(desc, desc_cap, "%s: %s", vk->d.props.deviceName, vk->err);
        vkb_destroy(&vk->ops);
        return MOM_ERR_BACKEND;
    }
    backend *b = &vk->ops;
    b->name = "vulkan";
    b->alloc = vkb_alloc;
    b->release = vkb_release;
    b->upload = vkb_upload;
    b->download = vkb_download;
    b->zero = vkb_zero;
    b->copy = vkb_copy;
    b->threads = vkb_threads;
    b->error = vkb_error;
    b->profile = vkb_profile;
    b->profile_read = vkb_profile_read;
    b->submissions = vkb_submissions;
    b->destroy = vkb_destroy;
    b->gather_rows = vk_gather_rows;
    b->add_bias = vk_add_bias;
    b->bias_grad = vk_bias_grad;
    b->embed_fwd = vk_embed_fwd;
    b->embed_bwd = vk_embed_bwd;
    b->rmsnorm_fwd = vk_rmsnorm_fwd;
    b->rmsnorm_bwd = vk_rmsnorm_bwd;
    b->softplus_fwd = vk_softplus_fwd;
    b->softplus_bwd = vk_softplus_bwd;
    b->xent = vk_xent;
    b->mse = vk_mse;
    b->clip_scale = vk_clip_scale;
    b->adamw_scaled = vk_adamw_scaled;
    b->mm_fwd = vk_mm_fwd;
    b->mm_bwd_data = vk_mm_bwd_data;
    b->mm_bwd_weight = vk_mm_bwd_weight;
    b->conv_silu_fwd = vk_conv_silu_fwd;
    b->conv_silu_bwd = vk_conv_silu_bwd;
    b->scan_fwd = vk_scan_fwd;
    b->scan_bwd = vk_scan_bwd;
    b->scan_work_elems = vk_scan_work_elems;
    b->scan_states_elems = vk_scan_states_elems;
    snprintf(desc, desc_cap, "vulkan (%s, %s, Vulkan %u.%u, subgroup %u, workgroup %u%s%s)", vk->d.props.deviceName,
             vk_device_type_name(&vk->d), VK_API_VERSION_MAJOR(vk->d.props.apiVersion),
             VK_API_VERSION_MINOR(vk->d.props.apiVersion), vk->d.subgroup, vk->d.wg,
             vk->d.staged ? ", device-local memory, staged" : vk->d.unified ? ", unified memory" : ", host-visible memory",
             vk->d.validation ? ", validation" : "");
    *out = b;
    return MOM_OK;
}

const be_entry mom_backend_vulkan = {"vulkan", vkb_create, vk_list_devices};
