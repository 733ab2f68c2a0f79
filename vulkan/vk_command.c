/* The backend's one command buffer: begun when the first op records into
 * it, a barrier after each op, and submitted (and waited for) when the host
 * needs the results; the GPU timestamps of a profiled submission are added
 * up by shader. */
#include <stdio.h>
#include <string.h>

#include "vk_internal.h"

VkCommandBuffer vk_cmd(vk_backend *vk)
{
    if (vk->recording) return vk->cmd;
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VkResult r = vkBeginCommandBuffer(vk->cmd, &bi);
    if (r != VK_SUCCESS) {
        vk_fail(vk, "vkBeginCommandBuffer failed (VkResult %d)", (int)r);
        return VK_NULL_HANDLE;
    }
    vk->recording = 1;
    if (vk->profiling) {
        vkCmdResetQueryPool(vk->cmd, vk->qpool, 0, VK_PROF_QUERIES);
        vk->q_used = 0;
    }
    return vk->cmd;
}

/* The timestamps of the command buffer just finished, added up by shader. */
static void read_profile(vk_backend *vk)
{
    if (!vk->profiling || !vk->q_used) return;
    uint64_t ts[VK_PROF_QUERIES];
    if (vkGetQueryPoolResults(vk->d.dev, vk->qpool, 0, vk->q_used, sizeof(ts), ts, sizeof(uint64_t),
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) != VK_SUCCESS)
        return;
    for (uint32_t q = 0; q + 1 < vk->q_used; q += 2) {
        const char *name = vk->q_name[q / 2];
        int i = 0;
        while (i < vk->n_prof && strcmp(vk->prof[i].name, name)) i++;
        if (i == vk->n_prof) {
            if (vk->n_prof == VK_PROF_SHADERS) continue;
            snprintf(vk->prof[vk->n_prof++].name, sizeof(vk->prof[0].name), "%s", name);
        }
        const uint64_t mask = vk->ts_bits >= 64 ? ~0ull : (1ull << vk->ts_bits) - 1;
        vk->prof[i].seconds += (double)((ts[q + 1] - ts[q]) & mask) * vk->d.props.limits.timestampPeriod * 1e-9;
        vk->prof[i].calls++;
    }
    vk->q_used = 0;
}

void vk_barrier(vk_backend *vk)
{
    if (!vk->recording) return;
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(vk->cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
}

int vk_flush(vk_backend *vk)
{
    if (!vk->recording) return 0;
    /* Make the device's writes visible to the host's reads of mapped memory. */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    vkCmdPipelineBarrier(vk->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    vk->recording = 0;
    VkResult r = vkEndCommandBuffer(vk->cmd);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &vk->cmd};
    if (r == VK_SUCCESS) r = vkQueueSubmit(vk->d.queue, 1, &si, vk->fence);
    vk->submits++;
    if (r == VK_SUCCESS) {
        r = vkWaitForFences(vk->d.dev, 1, &vk->fence, VK_TRUE, UINT64_MAX);
        vkResetFences(vk->d.dev, 1, &vk->fence);
    }
    if (r == VK_SUCCESS) read_profile(vk);
    vkResetCommandPool(vk->d.dev, vk->cmd_pool, 0);
    vkResetDescriptorPool(vk->d.dev, vk->desc_pool, 0);
    vk->sets_used = vk->descs_used = 0;
    if (r != VK_SUCCESS) return vk_fail(vk, "submitting the recorded work failed (VkResult %d)", (int)r);
    return 0;
}
