/* Compute pipelines (one per shader and workgroup size, made on first use,
 * kept for the backend's life), their descriptor sets, and the one way an
 * op records a dispatch (into the command buffer of vk_command.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

struct vk_pipeline {
    char name[64];
    uint32_t wg;
    int n_bindings;
    VkShaderModule module;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    vk_pipeline *next;
};

/* Descriptor sets of one submission; past them vk_dispatch submits what it
 * has and starts again (a training step is a few thousand dispatches). */
#define VK_POOL_SETS 8192u
#define VK_POOL_DESCRIPTORS (VK_POOL_SETS * 8u)

static void pipeline_free(vk_backend *vk, vk_pipeline *p)
{
    VkDevice dev = vk->d.dev;
    if (p->pipeline) vkDestroyPipeline(dev, p->pipeline, NULL);
    if (p->layout) vkDestroyPipelineLayout(dev, p->layout, NULL);
    if (p->set_layout) vkDestroyDescriptorSetLayout(dev, p->set_layout, NULL);
    if (p->module) vkDestroyShaderModule(dev, p->module, NULL);
    free(p);
}

void vk_pipelines_destroy(vk_backend *vk)
{
    while (vk->pipelines) {
        vk_pipeline *p = vk->pipelines;
        vk->pipelines = p->next;
        pipeline_free(vk, p);
    }
}

uint32_t vk_pipeline_wg(const vk_pipeline *p) { return p->wg; }

vk_pipeline *vk_pipeline_get_wg(vk_backend *vk, const char *name, int n_bindings, uint32_t wg)
{
    for (vk_pipeline *p = vk->pipelines; p; p = p->next)
        if (p->wg == wg && !strcmp(p->name, name)) {
            if (p->n_bindings != n_bindings) {
                vk_fail(vk, "shader %s: asked with %d bindings, made with %d", name, n_bindings, p->n_bindings);
                return NULL;
            }
            return p;
        }
    const vk_spirv *s = vk_shader(name);
    if (!s) {
        vk_fail(vk, "shader %s: not in the library (vulkan/meson.build lists the shaders)", name);
        return NULL;
    }
    if (n_bindings < 0 || n_bindings > VK_MAX_BINDINGS ||
        (uint32_t)n_bindings > vk->d.props.limits.maxPerStageDescriptorStorageBuffers) {
        vk_fail(vk, "shader %s: %d storage buffers (this device binds at most %u)", name, n_bindings,
                vk->d.props.limits.maxPerStageDescriptorStorageBuffers);
        return NULL;
    }
    if (!wg || wg > vk->d.props.limits.maxComputeWorkGroupInvocations ||
        wg > vk->d.props.limits.maxComputeWorkGroupSize[0]) {
        vk_fail(vk, "shader %s: workgroup size %u beyond the device's limits", name, wg);
        return NULL;
    }
    vk_pipeline *p = calloc(1, sizeof(*p));
    if (!p) {
        vk_fail(vk, "out of host memory");
        return NULL;
    }
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->wg = wg;
    p->n_bindings = n_bindings;
    VkDevice dev = vk->d.dev;
    VkShaderModuleCreateInfo smci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = s->bytes,
        .pCode = s->code,
    };
    VkResult r = vkCreateShaderModule(dev, &smci, NULL, &p->module);
    VkDescriptorSetLayoutBinding bind[VK_MAX_BINDINGS];
    for (int i = 0; i < n_bindings; i++)
        bind[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo dslci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = (uint32_t)n_bindings,
        .pBindings = bind,
    };
    if (r == VK_SUCCESS) r = vkCreateDescriptorSetLayout(dev, &dslci, NULL, &p->set_layout);
    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VK_PUSH_BYTES};
    VkPipelineLayoutCreateInfo plci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &p->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pcr,
    };
    if (r == VK_SUCCESS) r = vkCreatePipelineLayout(dev, &plci, NULL, &p->layout);
    VkSpecializationMapEntry entry = {.constantID = 0, .offset = 0, .size = sizeof(uint32_t)};
    VkSpecializationInfo spec = {.mapEntryCount = 1, .pMapEntries = &entry, .dataSize = sizeof(wg), .pData = &wg};
    VkComputePipelineCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = p->module,
            .pName = "main",
            .pSpecializationInfo = &spec,
        },
        .layout = p->layout,
    };
    if (r == VK_SUCCESS) r = vkCreateComputePipelines(dev, vk->cache, 1, &cpci, NULL, &p->pipeline);
    if (r != VK_SUCCESS) {
        vk_fail(vk, "shader %s: pipeline creation failed (VkResult %d)", name, (int)r);
        pipeline_free(vk, p);
        return NULL;
    }
    p->next = vk->pipelines;
    vk->pipelines = p;
    return p;
}

vk_pipeline *vk_pipeline_get(vk_backend *vk, const char *name, int n_bindings)
{
    return vk_pipeline_get_wg(vk, name, n_bindings, vk->d.wg);
}

uint32_t vk_groups(const vk_backend *vk, size_t n)
{
    const size_t g = (n + vk->d.wg - 1) / vk->d.wg;
    return g > UINT32_MAX ? UINT32_MAX : (uint32_t)g;
}

uint32_t vk_groups_max(const vk_backend *vk, size_t n)
{
    const uint32_t g = vk_groups(vk, n), lim = vk->d.props.limits.maxComputeWorkGroupCount[0];
    return g < lim ? g : lim;
}

int vk_descriptor_pool_create(vk_backend *vk)
{
    VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = VK_POOL_DESCRIPTORS};
    VkDescriptorPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = VK_POOL_SETS,
        .poolSizeCount = 1,
        .pPoolSizes = &size,
    };
    VkResult r = vkCreateDescriptorPool(vk->d.dev, &ci, NULL, &vk->desc_pool);
    return r == VK_SUCCESS ? 0 : vk_fail(vk, "vkCreateDescriptorPool failed (VkResult %d)", (int)r);
}

int vk_dispatch(vk_backend *vk, vk_pipeline *p, const bv *views, int n, const void *push, size_t push_bytes,
                uint32_t groups_x, uint32_t groups_y, uint32_t groups_z)
{
    if (!p) return -1;
    if (n != p->n_bindings)
        return vk_fail(vk, "shader %s: dispatched with %d buffers, made for %d", p->name, n, p->n_bindings);
    if (push_bytes > VK_PUSH_BYTES)
        return vk_fail(vk, "shader %s: %zu push-constant bytes (at most %d)", p->name, push_bytes, VK_PUSH_BYTES);
    const uint32_t *lim = vk->d.props.limits.maxComputeWorkGroupCount;
    if (groups_x > lim[0] || groups_y > lim[1] || groups_z > lim[2])
        return vk_fail(vk, "shader %s: %u x %u x %u workgroups (the device allows %u x %u x %u)", p->name, groups_x,
                       groups_y, groups_z, lim[0], lim[1], lim[2]);
    if (!groups_x || !groups_y || !groups_z) return 0; /* nothing to do */
    if (vk->sets_used + 1 > VK_POOL_SETS || vk->descs_used + (uint32_t)n > VK_POOL_DESCRIPTORS ||
        (vk->profiling && vk->q_used + 2 > VK_PROF_QUERIES))
        if (vk_flush(vk)) return -1;
    VkCommandBuffer cb = vk_cmd(vk);
    if (!cb) return -1;
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = vk->desc_pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &p->set_layout,
    };
    VkDescriptorSet set;
    VkResult r = vkAllocateDescriptorSets(vk->d.dev, &ai, &set);
    if (r != VK_SUCCESS) return vk_fail(vk, "shader %s: vkAllocateDescriptorSets failed (VkResult %d)", p->name, (int)r);
    vk->sets_used++;
    vk->descs_used += (uint32_t)n;
    VkDescriptorBufferInfo info[VK_MAX_BINDINGS];
    VkWriteDescriptorSet wr[VK_MAX_BINDINGS];
    for (int i = 0; i < n; i++) {
        const be_buf *b = views[i].buf ? views[i].buf : vk->dummy;
        info[i] = (VkDescriptorBufferInfo){.buffer = b->buffer, .offset = 0, .range = VK_WHOLE_SIZE};
        wr[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &info[i],
        };
    }
    if (n) vkUpdateDescriptorSets(vk->d.dev, (uint32_t)n, wr, 0, NULL);
    /* Always all 128 bytes, the unused tail zero: no push constant a shader
     * reads is ever undefined. */
    uint32_t pc[VK_PUSH_BYTES / 4] = {0};
    if (push_bytes) memcpy(pc, push, push_bytes);
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    if (n) vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    vkCmdPushConstants(cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES, pc);
    /* Profiling: a timestamp when everything before has finished its
     * compute work, and one when this dispatch has (the barriers between
     * dispatches make the difference this one's time). */
    if (vk->profiling) {
        vk->q_name[vk->q_used / 2] = p->name;
        vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, vk->qpool, vk->q_used++);
    }
    vkCmdDispatch(cb, groups_x, groups_y, groups_z);
    if (vk->profiling) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, vk->qpool, vk->q_used++);
    vk_barrier(vk);
    return 0;
}

int vk_run(vk_backend *vk, const char *name, const bv *views, int n, const void *push, size_t push_bytes,
           uint32_t groups_x, uint32_t groups_y, uint32_t groups_z)
{
    vk_pipeline *p = vk_pipeline_get(vk, name, n);
    if (!p) return -1;
    return vk_dispatch(vk, p, views, n, push, push_bytes, groups_x, groups_y, groups_z);
}
