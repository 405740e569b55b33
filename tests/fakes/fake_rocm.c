/* A fake librocm_smi64 for tests: two devices with the scalar rsmi_* calls tokscope uses.
 * Built twice by the tests:
 *   cc -shared -fPIC fake_rocm.c            -> like ROCm 6: rsmi_dev_power_get present
 *   cc -shared -fPIC -DFAKE_DTK fake_rocm.c -> like DTK's librocm_smi64.so.2: no
 *      rsmi_dev_power_get / rsmi_dev_current_socket_power_get, power only through power_ave,
 *      and no rsmi_dev_busy_percent_get either, to check that one missing call costs one field.
 * FAKE_RSMI_DEVICES=0 (or -DFAKE_NDEV=0 at build time) makes it see no device.
 * FAKE_RSMI_INIT_FAILS=1 makes rsmi_init fail as Debian's librocm_smi64 does on a machine
 * without an AMD GPU: status 8, and its two lines of complaint written to stderr. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OK = 0, INVALID = 1, NOT_SUPPORTED = 2 };
static int inited;

static uint32_t ndev(void) {
#ifdef FAKE_NDEV
    return FAKE_NDEV;
#endif
    const char *s = getenv("FAKE_RSMI_DEVICES");
    return s ? (uint32_t)atoi(s) : 2;
}
#define CHECK(dv) do { if (!inited) return 8; if ((dv) >= ndev()) return INVALID; } while (0)

int rsmi_init(uint64_t flags) {
    (void)flags;
    if (getenv("FAKE_RSMI_INIT_FAILS")) {
        fputs("Failed to open drm root directory /sys/class/drm.: No such file or directory\n", stderr);
        fputs("Exception caught: rsmi_init.\n", stderr);
        return 8;
    }
    inited = 1;
    return OK;
}
int rsmi_shut_down(void) { inited = 0; return OK; }
int rsmi_num_monitor_devices(uint32_t *n) { if (!inited) return 8; *n = ndev(); return OK; }
int rsmi_dev_name_get(uint32_t dv, char *name, size_t len) {
    CHECK(dv);
    strncpy(name, "K100_AI", len);
    return OK;
}
int rsmi_dev_unique_id_get(uint32_t dv, uint64_t *id) { CHECK(dv); *id = 0xabc0 + dv; return OK; }
int rsmi_dev_memory_total_get(uint32_t dv, int type, uint64_t *v) {
    CHECK(dv);
    if (type != 0) return NOT_SUPPORTED;
    *v = 64ULL << 30;
    return OK;
}
int rsmi_dev_memory_usage_get(uint32_t dv, int type, uint64_t *v) {
    CHECK(dv);
    if (type != 0) return NOT_SUPPORTED;
    *v = (10ULL + dv) << 30;
    return OK;
}
#ifndef FAKE_DTK
int rsmi_dev_busy_percent_get(uint32_t dv, uint32_t *v) { CHECK(dv); *v = 75; return OK; }
int rsmi_dev_power_get(uint32_t dv, uint64_t *uw, int *type) {
    CHECK(dv);
    *uw = 300000000ULL; /* 300 W */
    if (type) *type = 1;
    return OK;
}
int rsmi_dev_current_socket_power_get(uint32_t dv, uint64_t *uw) { return rsmi_dev_power_get(dv, uw, NULL); }
#endif
int rsmi_dev_power_ave_get(uint32_t dv, uint32_t sensor, uint64_t *uw) {
    CHECK(dv);
    if (sensor != 0) return NOT_SUPPORTED;
    *uw = 181000000ULL; /* 181 W */
    return OK;
}
int rsmi_dev_power_cap_get(uint32_t dv, uint32_t sensor, uint64_t *uw) {
    CHECK(dv);
    (void)sensor;
    *uw = 350000000ULL;
    return OK;
}
int rsmi_dev_temp_metric_get(uint32_t dv, uint32_t sensor, uint32_t metric, int64_t *mc) {
    CHECK(dv);
    if (metric != 0) return NOT_SUPPORTED;
    if (sensor == 0) return NOT_SUPPORTED; /* no edge sensor: the junction one answers */
    *mc = 52000;
    return OK;
}
int rsmi_dev_energy_count_get(uint32_t dv, uint64_t *count, float *res_uj, uint64_t *ts) {
    CHECK(dv);
    *count = 1000000; /* x 15.3 uJ */
    *res_uj = 15.3f;
    *ts = 1;
    return OK;
}
