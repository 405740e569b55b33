/* A fake libnvidia-ml for tests: exports the NVML calls tokscope makes through nvml-wrapper.
 * The machine it pretends to be is picked by FAKE_NVML_SCENARIO:
 *   a100  one A100 80GB PCIe (default)
 *   gb10  one GB10: framebuffer memory NOT_SUPPORTED, per-process memory works
 *   mig   one RTX Pro 6000 in MIG mode: 4 slots, slot 1 empty, instances in slots 0 and 2
 * (or, when that is unset, by -DFAKE_SCENARIO="gb10" at build time).
 * fake_nvml_calls(name) returns how often a call was made, so tests can check caching.
 * FAKE_NVML_STDERR, when set, is written to file descriptor 2 at init and at every power
 * reading, as chatty vendor libraries do: while the dashboard runs, it must stay off the
 * screen (and be shown after).
 * Build: cc -shared -fPIC fake_nvml.c -o libnvidia-ml.so.1 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int nvmlReturn_t;
enum { OK = 0, UNINIT = 1, INVALID = 2, NOT_SUPPORTED = 3, NOT_FOUND = 6, INSUFFICIENT = 7 };

typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

typedef struct dev {
    const char *name, *uuid;
    int mem_supported;
    unsigned long long total, used;
    unsigned int util, power_mw, limit_mw, temp, sm_mhz;
    unsigned long long energy_mj;
    int mig_parent, mig_instance, gi, ci;
    int nproc;
    nvmlProcessInfo_t procs[2];
} dev_t_;

static dev_t_ devs[4];
static int ndevs, scenario_mig, initialised;
static long counts[64];
static const char *names[64];

static void count(const char *n) {
    for (int i = 0; i < 64; i++) {
        if (names[i] == NULL) { names[i] = n; counts[i] = 1; return; }
        if (strcmp(names[i], n) == 0) { counts[i]++; return; }
    }
}

long fake_nvml_calls(const char *n) {
    for (int i = 0; i < 64 && names[i]; i++)
        if (strcmp(names[i], n) == 0) return counts[i];
    return 0;
}

static void setup(void) {
    const char *s = getenv("FAKE_NVML_SCENARIO");
#ifdef FAKE_SCENARIO
    if (s == NULL) s = FAKE_SCENARIO; /* tests build one library per scenario */
#endif
    memset(devs, 0, sizeof devs);
    dev_t_ *d = &devs[0];
    if (s && strcmp(s, "gb10") == 0) {
        *d = (dev_t_){"NVIDIA GB10", "GPU-gb10-0000", 0, 0, 0, 37, 12100, 0, 41, 2418, 5000000ULL,
                      0, 0, 0, 0, 2,
                      {{4242, 30ULL << 30, 0xFFFFFFFF, 0xFFFFFFFF}, {4243, 7ULL << 30, 0xFFFFFFFF, 0xFFFFFFFF}}};
        ndevs = 1;
    } else if (s && strcmp(s, "mig") == 0) {
        *d = (dev_t_){"NVIDIA RTX PRO 6000 Blackwell Server Edition", "GPU-mig-parent", 1, 97ULL << 30, 41ULL << 30,
                      0, 250000, 600000, 55, 1800, 7000000ULL, 1, 0, 0, 0, 0, {{0}}};
        devs[1] = (dev_t_){"NVIDIA RTX PRO 6000 Blackwell MIG 2g.48gb", "MIG-aaaa", 1, 47ULL << 30, 40ULL << 30,
                           0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, {{777, 40ULL << 30, 1, 0}}};
        devs[2] = (dev_t_){"NVIDIA RTX PRO 6000 Blackwell MIG 1g.24gb", "MIG-bbbb", 1, 23ULL << 30, 1ULL << 30,
                           0, 0, 0, 0, 0, 0, 0, 1, 5, 0, 0, {{0}}};
        ndevs = 1;
        scenario_mig = 1;
    } else {
        *d = (dev_t_){"NVIDIA A100 80GB PCIe", "GPU-a100-0000", 1, 85899345920ULL, 42949672960ULL, 87, 250000,
                      300000, 61, 1410, 1000000ULL, 0, 0, 0, 0, 1, {{1234, 40ULL << 30, 0xFFFFFFFF, 0xFFFFFFFF}}};
        ndevs = 1;
    }
}

static dev_t_ *D(void *h) { return (dev_t_ *)h; }
static int valid(void *h) { return h >= (void *)&devs[0] && h < (void *)&devs[4]; }

static void noise(void) {
    const char *n = getenv("FAKE_NVML_STDERR");
    if (n && (write(2, n, strlen(n)) < 0 || write(2, "\n", 1) < 0)) return;
}

nvmlReturn_t nvmlInit_v2(void) {
    count("nvmlInit_v2");
    noise();
    setup();
    initialised = 1;
    return OK;
}
nvmlReturn_t nvmlInitWithFlags(unsigned int f) { (void)f; return nvmlInit_v2(); }
nvmlReturn_t nvmlShutdown(void) { count("nvmlShutdown"); initialised = 0; return OK; }
const char *nvmlErrorString(nvmlReturn_t r) {
    switch (r) {
    case OK: return "Success";
    case NOT_SUPPORTED: return "Not Supported";
    case NOT_FOUND: return "Not Found";
    default: return "Unknown Error";
    }
}
nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned int n) {
    strncpy(v, "580.95.05", n);
    return OK;
}
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *c) {
    count("nvmlDeviceGetCount_v2");
    if (!initialised) return UNINIT;
    *c = ndevs;
    return OK;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **h) {
    if (i >= (unsigned)ndevs) return INVALID;
    *h = &devs[i];
    return OK;
}
nvmlReturn_t nvmlDeviceGetName(void *h, char *n, unsigned int len) {
    if (!valid(h)) return INVALID;
    strncpy(n, D(h)->name, len);
    return OK;
}
nvmlReturn_t nvmlDeviceGetUUID(void *h, char *u, unsigned int len) {
    if (!valid(h)) return INVALID;
    strncpy(u, D(h)->uuid, len);
    return OK;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(void *h, nvmlMemory_v2_t *m) {
    count("nvmlDeviceGetMemoryInfo_v2");
    if (!D(h)->mem_supported) return NOT_SUPPORTED;
    m->total = D(h)->total;
    m->used = D(h)->used;
    m->reserved = 0;
    m->free = D(h)->total - D(h)->used;
    return OK;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(void *h, void *m) { (void)h; (void)m; return NOT_SUPPORTED; }
nvmlReturn_t nvmlDeviceGetUtilizationRates(void *h, nvmlUtilization_t *u) {
    count("nvmlDeviceGetUtilizationRates");
    if (D(h)->mig_parent || D(h)->mig_instance) return NOT_SUPPORTED;
    u->gpu = D(h)->util;
    u->memory = D(h)->util / 2;
    return OK;
}
nvmlReturn_t nvmlDeviceGetPowerUsage(void *h, unsigned int *p) {
    count("nvmlDeviceGetPowerUsage");
    noise();
    if (D(h)->mig_instance) return NOT_SUPPORTED;
    *p = D(h)->power_mw;
    return OK;
}
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(void *h, unsigned int *p) {
    count("nvmlDeviceGetEnforcedPowerLimit");
    if (D(h)->limit_mw == 0) return NOT_SUPPORTED;
    *p = D(h)->limit_mw;
    return OK;
}
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(void *h, unsigned long long *e) {
    if (D(h)->mig_instance) return NOT_SUPPORTED;
    /* Grows by 1000 mJ per call: a counter that moves between samples. */
    D(h)->energy_mj += 1000;
    *e = D(h)->energy_mj;
    return OK;
}
nvmlReturn_t nvmlDeviceGetTemperature(void *h, int sensor, unsigned int *t) {
    if (sensor != 0 || D(h)->mig_instance) return NOT_SUPPORTED;
    *t = D(h)->temp;
    return OK;
}
nvmlReturn_t nvmlDeviceGetClockInfo(void *h, int type, unsigned int *c) {
    if (D(h)->mig_instance) return NOT_SUPPORTED;
    *c = type == 1 ? D(h)->sm_mhz : D(h)->sm_mhz / 2;
    return OK;
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(void *h, unsigned int *n, nvmlProcessInfo_t *p) {
    count("nvmlDeviceGetComputeRunningProcesses_v3");
    dev_t_ *d = D(h);
    if (d->mig_parent) return 4; /* NO_PERMISSION: the parent-handle query needs root */
    if (p == NULL || *n < (unsigned)d->nproc) {
        *n = d->nproc;
        return d->nproc ? INSUFFICIENT : OK;
    }
    memcpy(p, d->procs, sizeof(nvmlProcessInfo_t) * d->nproc);
    *n = d->nproc;
    return OK;
}
nvmlReturn_t nvmlDeviceGetMigMode(void *h, unsigned int *cur, unsigned int *pend) {
    count("nvmlDeviceGetMigMode");
    if (!scenario_mig) return NOT_SUPPORTED;
    *cur = *pend = D(h)->mig_parent ? 1 : 0;
    return OK;
}
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(void *h, unsigned int *c) {
    if (!D(h)->mig_parent) return NOT_SUPPORTED;
    *c = 4;
    return OK;
}
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(void *h, unsigned int i, void **out) {
    if (!D(h)->mig_parent) return NOT_SUPPORTED;
    if (i == 0) { *out = &devs[1]; return OK; }
    if (i == 2) { *out = &devs[2]; return OK; }
    return NOT_FOUND; /* slot 1 and 3 are empty: callers must continue past them */
}
nvmlReturn_t nvmlDeviceIsMigDeviceHandle(void *h, unsigned int *is) { *is = D(h)->mig_instance; return OK; }
nvmlReturn_t nvmlDeviceGetGpuInstanceId(void *h, unsigned int *id) {
    if (!D(h)->mig_instance) return INVALID;
    *id = D(h)->gi;
    return OK;
}
nvmlReturn_t nvmlDeviceGetComputeInstanceId(void *h, unsigned int *id) {
    if (!D(h)->mig_instance) return INVALID;
    *id = D(h)->ci;
    return OK;
}
nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(void *h, void **out) {
    if (!D(h)->mig_instance) return INVALID;
    *out = &devs[0];
    return OK;
}
