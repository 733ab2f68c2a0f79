/* The Vulkan device: an instance with no surface extensions (compute only,
 * no display), a physical device, its compute queue and memory types, the
 * validation layer on request, and the backend's failures. Buffers are in
 * vk_memory.c, the command buffer and its submission in vk_command.c. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

static const char VALIDATION_LAYER[] = "VK_LAYER_KHRONOS_validation";

static atomic_ulong validation_count;

unsigned long vk_validation_messages(void) { return atomic_load(&validation_count); }

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)user;
    if ((type & VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT) &&
        (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT))) {
        atomic_fetch_add(&validation_count, 1);
        fprintf(stderr, "vulkan validation: %s\n", data && data->pMessage ? data->pMessage : "(no message)");
    }
    return VK_FALSE;
}

int vk_env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

static int has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n) return 0;
    VkLayerProperties *p = calloc(n, sizeof(*p));
    if (!p) return 0;
    int found = 0;
    if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) found |= !strcmp(p[i].layerName, name);
    free(p);
    return found;
}

static int layer_has_extension(const char *layer, const char *ext)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || !n) return 0;
    VkExtensionProperties *p = calloc(n, sizeof(*p));
    if (!p) return 0;
    int found = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) found |= !strcmp(p[i].extensionName, ext);
    free(p);
    return found;
}

static const char *type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "software (CPU)";
    default: return "other";
    }
}

/* A queue family with compute; one without graphics first (a dedicated
 * compute queue). -1: none. */
static int compute_family(VkPhysicalDevice pd)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof(*q));
    if (!q) return -1;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int best = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || !q[i].queueCount) continue;
        if (best < 0 || !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = (int)i;
        if (!(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) break;
    }
    free(q);
    return best;
}

/* Why device pd cannot be used ("" when it can). */
static const char *unusable(VkPhysicalDevice pd, const VkPhysicalDeviceProperties *p, int allow_software)
{
    if (p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU && !allow_software)
        return "a software device (set MOM_VK_ALLOW_SOFTWARE=1 to use it)";
    if (p->apiVersion < VK_API_VERSION_1_2) return "Vulkan older than 1.2";
    if (compute_family(pd) < 0) return "no compute queue";
    if (p->limits.maxPushConstantsSize < VK_PUSH_BYTES) return "fewer than 128 push-constant bytes";
    if (p->limits.maxPerStageDescriptorStorageBuffers < VK_SHADER_MAX_BUFFERS)
        return "fewer storage buffers per shader than the scan's backward binds";
    return "";
}

/* Lower is better: GPUs before software devices. */
static int rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
    default: return 3;
    }
}

/* device >= 0: that one; else MOM_VK_DEVICE's; else the best usable. */
static int pick_device(vk_device *d, int device, int allow_software, char *err, size_t err_cap)
{
    uint32_t n = 0;
    if (vkEnumeratePhysicalDevices(d->instance, &n, NULL) != VK_SUCCESS || !n) {
        snprintf(err, err_cap, "no Vulkan device (the loader lists none)");
        return -1;
    }
    VkPhysicalDevice *pds = calloc(n, sizeof(*pds));
    if (!pds) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    vkEnumeratePhysicalDevices(d->instance, &n, pds);
    const char *pick = getenv("MOM_VK_DEVICE");
    char named[64] = ""; /* the index asked for, as an error names it ("": none) */
    long i = device;
    if (device >= 0) {
        snprintf(named, sizeof(named), "device %d", device);
    } else if (pick && pick[0]) {
        char *end = NULL;
        i = strtol(pick, &end, 10);
        if (*end) i = -1;
        snprintf(named, sizeof(named), "MOM_VK_DEVICE=%.40s", pick);
    }
    int chosen = -1;
    if (named[0]) {
        if (i < 0 || i >= (long)n) {
            snprintf(err, err_cap, "%s: not a device index (there are %u devices)", named, n);
            free(pds);
            return -1;
        }
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        const char *why = unusable(pds[i], &p, allow_software);
        if (why[0]) {
            snprintf(err, err_cap, "%s (%s): %s", named, p.deviceName, why);
            free(pds);
            return -1;
        }
        chosen = (int)i;
    } else {
        int best = 99, software_skipped = 0;
        for (uint32_t k = 0; k < n; k++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pds[k], &p);
            if (unusable(pds[k], &p, allow_software)[0]) {
                software_skipped |= p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU && !allow_software;
                continue;
            }
            if (rank(p.deviceType) < best) {
                best = rank(p.deviceType);
                chosen = (int)k;
            }
        }
        if (chosen < 0) {
            if (software_skipped)
                snprintf(err, err_cap, "no Vulkan device (software devices need MOM_VK_ALLOW_SOFTWARE=1)");
            else
                snprintf(err, err_cap, "no usable Vulkan device (%u found; none has Vulkan 1.2 and a compute queue)", n);
            free(pds);
            return -1;
        }
    }
    d->phys = pds[chosen];
    free(pds);
    return 0;
}

int vk_device_open(vk_device *d, int device, int allow_software, char *err, size_t err_cap)
{
    memset(d, 0, sizeof(*d));
    uint32_t api = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion(&api) != VK_SUCCESS || api < VK_API_VERSION_1_2) {
        snprintf(err, err_cap, "no Vulkan device (the loader offers Vulkan %u.%u, 1.2 is needed)",
                 VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
        return -1;
    }
    const int validate = vk_env_flag("MOM_VK_VALIDATE") && has_layer(VALIDATION_LAYER);
    const char *layers[] = {VALIDATION_LAYER};
    const char *exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
    /* Synchronization validation too: a missing barrier between two
     * dispatches is a hazard it reports. */
    const int sync = validate && layer_has_extension(VALIDATION_LAYER, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
    const VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = enables,
    };
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
    };
    if (sync) features.pNext = &mci;
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "libmom",
        .pEngineName = "libmom",
        .apiVersion = VK_API_VERSION_1_2,
    };
    VkInstanceCreateInfo ici = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        /* The messenger also watches instance creation and destruction. */
        .pNext = sync ? (const void *)&features : validate ? (const void *)&mci : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = validate ? 1u : 0u,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = validate ? 1u + (uint32_t)sync : 0u,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ici, NULL, &d->instance);
    if (r != VK_SUCCESS) {
        snprintf(err, err_cap, "no Vulkan device (vkCreateInstance failed: VkResult %d)", (int)r);
        d->instance = VK_NULL_HANDLE;
        return -1;
    }
    if (validate) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(d->instance, "vkCreateDebugUtilsMessengerEXT");
        if (create && create(d->instance, &mci, NULL, &d->messenger) == VK_SUCCESS) d->validation = 1;
    }
    if (pick_device(d, device, allow_software, err, err_cap)) {
        vk_device_close(d);
        return -1;
    }
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    vkGetPhysicalDeviceProperties2(d->phys, &p2);
    d->props = p2.properties;
    d->subgroup = sub.subgroupSize;
    vkGetPhysicalDeviceMemoryProperties(d->phys, &d->mem);
    d->queue_family = (uint32_t)compute_family(d->phys);
    const VkPhysicalDeviceLimits *lim = &d->props.limits;
    d->wg = 64;
    if (d->wg > lim->maxComputeWorkGroupSize[0]) d->wg = lim->maxComputeWorkGroupSize[0];
    if (d->wg > lim->maxComputeWorkGroupInvocations) d->wg = lim->maxComputeWorkGroupInvocations;
    while (d->wg & (d->wg - 1)) d->wg &= d->wg - 1; /* a power of two: reduction trees halve it */

    /* Every buffer lives on host-visible coherent memory, device local too
     * where the device has such a type on a heap about as large as its
     * largest device-local heap (unified memory: lavapipe, integrated
     * GPUs, a GPU with the whole of its memory behind a resizable BAR;
     * not the 256 MiB BAR window of other discrete GPUs). Otherwise a
     * discrete GPU reads host memory over the bus: correct but slow;
     * device-local buffers with staging copies are a later step. */
    const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    VkDeviceSize largest_local = 0;
    for (uint32_t h = 0; h < d->mem.memoryHeapCount; h++)
        if ((d->mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && d->mem.memoryHeaps[h].size > largest_local)
            largest_local = d->mem.memoryHeaps[h].size;
    int found = -1;
    for (uint32_t i = 0; i < d->mem.memoryTypeCount && found < 0; i++)
        if ((d->mem.memoryTypes[i].propertyFlags & (host | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)) ==
                (host | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
            d->mem.memoryHeaps[d->mem.memoryTypes[i].heapIndex].size >= largest_local / 2)
            found = (int)i, d->unified = 1;
    for (uint32_t i = 0; i < d->mem.memoryTypeCount && found < 0; i++)
        if ((d->mem.memoryTypes[i].propertyFlags & host) == host) found = (int)i;
    if (found < 0) {
        snprintf(err, err_cap, "%s: no host-visible coherent memory type", d->props.deviceName);
        vk_device_close(d);
        return -1;
    }
    d->mem_type = (uint32_t)found;
    /* A discrete GPU without a large host-visible device-local type: buffers
     * go in its device-local memory, and the host reaches them through a
     * staging buffer (vk_backend.c). */
    d->dev_type = d->mem_type;
    if (!d->unified)
        for (uint32_t i = 0; i < d->mem.memoryTypeCount; i++)
            if ((d->mem.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
                d->mem.memoryHeaps[d->mem.memoryTypes[i].heapIndex].size >= largest_local) {
                d->dev_type = i;
                d->staged = 1;
                break;
            }
    if (vk_env_flag("MOM_VK_STAGING")) d->staged = 1; /* the staging path on any device */

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = d->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
    };
    r = vkCreateDevice(d->phys, &dci, NULL, &d->dev);
    if (r != VK_SUCCESS) {
        snprintf(err, err_cap, "%s: vkCreateDevice failed (VkResult %d)", d->props.deviceName, (int)r);
        d->dev = VK_NULL_HANDLE;
        vk_device_close(d);
        return -1;
    }
    vkGetDeviceQueue(d->dev, d->queue_family, 0, &d->queue);
    return 0;
}

void vk_device_close(vk_device *d)
{
    if (d->dev) vkDestroyDevice(d->dev, NULL);
    if (d->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(d->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(d->instance, d->messenger, NULL);
    }
    if (d->instance) vkDestroyInstance(d->instance, NULL);
    memset(d, 0, sizeof(*d));
}

const char *vk_device_type_name(const vk_device *d) { return type_name(d->props.deviceType); }

int vk_fail(vk_backend *vk, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* The first failure sticks until the model asks (backend.error): the
     * ops themselves return nothing. */
    if (!vk->failed) vsnprintf(vk->err, sizeof(vk->err), fmt, ap);
    va_end(ap);
    vk->failed = 1;
    return -1;
}

const char *vk_last_error(const vk_backend *vk) { return vk->err; }

void vk_list_devices(char *buf, size_t cap)
{
    if (!buf || !cap) return;
    buf[0] = '\0';
    const VkApplicationInfo ai = {VK_STRUCTURE_TYPE_APPLICATION_INFO, NULL, "libmom", 1, "libmom", 1, VK_API_VERSION_1_2};
    const VkInstanceCreateInfo ici = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, NULL, 0, &ai, 0, NULL, 0, NULL};
    VkInstance inst;
    if (vkCreateInstance(&ici, NULL, &inst) != VK_SUCCESS) return;
    uint32_t n = 0;
    VkPhysicalDevice pds[16];
    if (vkEnumeratePhysicalDevices(inst, &n, NULL) == VK_SUCCESS && n) {
        if (n > 16) n = 16;
        vkEnumeratePhysicalDevices(inst, &n, pds);
        size_t used = 0;
        for (uint32_t i = 0; i < n && used < cap; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pds[i], &p);
            const int w = snprintf(buf + used, cap - used, "%s%u: %s (%s, Vulkan %u.%u)", i ? "; " : "", i,
                                   p.deviceName, type_name(p.deviceType), VK_API_VERSION_MAJOR(p.apiVersion),
                                   VK_API_VERSION_MINOR(p.apiVersion));
            if (w < 0) break;
            used += (size_t)w;
        }
    }
    vkDestroyInstance(inst, NULL);
}
