/* The Vulkan backend's memory: buffers on the memory types vk_device_open
 * chose (mapped host-visible memory, or device-local memory reached by
 * staging), the scratch buffer ops share, and a count of what is alive. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

static atomic_ulong live_buffers, live_bytes; /* of every backend of the process */

void vk_live_memory(unsigned long *buffers, unsigned long *bytes)
{
    *buffers = atomic_load(&live_buffers);
    *bytes = atomic_load(&live_bytes);
}

/* A buffer in memory type `type`, mapped when `mapped`. */
static be_buf *buf_create(vk_backend *vk, size_t n, uint32_t type, int mapped)
{
    const vk_device *d = &vk->d;
    const VkDeviceSize bytes = (VkDeviceSize)(n ? n : 1) * sizeof(float);
    /* Shaders bind whole buffers: one larger than a binding may cover
     * cannot be used (binding at an offset is a later step). */
    if (n > SIZE_MAX / sizeof(float) || bytes > d->props.limits.maxStorageBufferRange) {
        vk_fail(vk, "buffer of %zu floats exceeds the device's storage-buffer range (%u bytes)", n,
                d->props.limits.maxStorageBufferRange);
        return NULL;
    }
    be_buf *b = calloc(1, sizeof(*b));
    if (!b) {
        vk_fail(vk, "out of host memory");
        return NULL;
    }
    b->n = n;
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = bytes,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(d->dev, &bci, NULL, &b->buffer);
    if (r != VK_SUCCESS) {
        vk_fail(vk, "vkCreateBuffer of %zu floats failed (VkResult %d)", n, (int)r);
        free(b);
        return NULL;
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(d->dev, b->buffer, &req);
    if (!(req.memoryTypeBits & (1u << type))) {
        vk_fail(vk, "buffer of %zu floats cannot live in memory type %u", n, type);
        vkDestroyBuffer(d->dev, b->buffer, NULL);
        free(b);
        return NULL;
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    r = vkAllocateMemory(d->dev, &mai, NULL, &b->memory);
    if (r == VK_SUCCESS) r = vkBindBufferMemory(d->dev, b->buffer, b->memory, 0);
    if (r == VK_SUCCESS && mapped) r = vkMapMemory(d->dev, b->memory, 0, VK_WHOLE_SIZE, 0, &b->map);
    if (r != VK_SUCCESS) {
        vk_fail(vk, "device memory for %zu floats: VkResult %d", n, (int)r);
        if (b->memory) vkFreeMemory(d->dev, b->memory, NULL);
        vkDestroyBuffer(d->dev, b->buffer, NULL);
        free(b);
        return NULL;
    }
    /* New memory is not referenced by recorded work: zero it from the host,
     * or (unmapped) by a fill recorded before any use. */
    if (b->map) {
        memset(b->map, 0, (size_t)bytes);
    } else {
        VkCommandBuffer cb = vk_cmd(vk);
        if (cb) {
            vkCmdFillBuffer(cb, b->buffer, 0, VK_WHOLE_SIZE, 0);
            vk_barrier(vk);
        }
    }
    b->bytes = req.size;
    atomic_fetch_add(&live_buffers, 1);
    atomic_fetch_add(&live_bytes, (unsigned long)b->bytes);
    b->next = vk->bufs;
    if (vk->bufs) vk->bufs->prev = b;
    vk->bufs = b;
    return b;
}

be_buf *vk_buf_create(vk_backend *vk, size_t n)
{
    return vk->d.staged ? buf_create(vk, n, vk->d.dev_type, 0) : buf_create(vk, n, vk->d.mem_type, 1);
}

be_buf *vk_buf_create_host(vk_backend *vk, size_t n) { return buf_create(vk, n, vk->d.mem_type, 1); }

void vk_buf_destroy(vk_backend *vk, be_buf *b)
{
    if (!b) return;
    if (b->prev) b->prev->next = b->next;
    else vk->bufs = b->next;
    if (b->next) b->next->prev = b->prev;
    if (b->map) vkUnmapMemory(vk->d.dev, b->memory);
    vkDestroyBuffer(vk->d.dev, b->buffer, NULL);
    vkFreeMemory(vk->d.dev, b->memory, NULL);
    atomic_fetch_sub(&live_buffers, 1);
    atomic_fetch_sub(&live_bytes, (unsigned long)b->bytes);
    free(b);
}

be_buf *vk_scratch(vk_backend *vk, size_t n)
{
    if (vk->scratch && vk->scratch->n >= n) return vk->scratch;
    if (vk_flush(vk)) return NULL; /* recorded work may use the old one */
    size_t want = vk->scratch ? 2 * vk->scratch->n : 4096;
    if (want < n) want = n;
    be_buf *b = vk_buf_create(vk, want);
    if (!b) return NULL;
    if (vk->scratch) vk_buf_destroy(vk, vk->scratch);
    vk->scratch = b;
    return b;
}
