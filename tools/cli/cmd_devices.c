/* cmd_devices.c — `rwkv devices`: the devices a model can run on (--device / RWKV_DEVICE): the CPU,
 * and every Vulkan device with its memory and the features the Vulkan backend looks at. */
#include "cli.h"

#include <inttypes.h>

static const char devices_usage[] =
    "usage: rwkv devices [--json] [--bandwidth] [--bandwidth-mb 256]\n"
    "Lists the devices models can run on: cpu, and each Vulkan device as vulkan:N with its type,\n"
    "memory, Vulkan version, driver, subgroup sizes and shader features (fp16, int8, coopmat =\n"
    "VK_KHR_cooperative_matrix). A device the Vulkan backend cannot use says why. --json prints one\n"
    "JSON object per line instead. --bandwidth also measures each usable device's memory bandwidth\n"
    "with its copy kernel (bytes read + written per second copying --bandwidth-mb MiB; best of 10).\n"
    "Without a Vulkan driver (or in a build without the Vulkan backend) only cpu is listed and\n"
    "the reason is printed on stderr.\n";

int cmd_devices(int argc, char **argv) {
    enum { OPT_JSON = 1, OPT_BW, OPT_BW_MB };
    static const cli_option opts[] = {
        {OPT_JSON, "json", 0, 0}, {OPT_BW, "bandwidth", 0, 0}, {OPT_BW_MB, "bandwidth-mb", 0, 1}, {0, NULL, 0, 0}};
    int json = 0, measure = 0, bw_mib = 256;
    cli_parser p;
    cli_parser_init(&p, "devices", argc, argv);
    const char *v;
    for (int id; (id = cli_next(&p, opts, &v)) != CLI_END;) {
        switch (id) {
        case CLI_HELP: fputs(devices_usage, stdout); return CLI_EXIT_OK;
        case CLI_BAD: return CLI_EXIT_USAGE;
        case CLI_POSITIONAL: return cli_usage_error("devices", "unexpected argument '%.100s'", v);
        case OPT_JSON: json = 1; break;
        case OPT_BW: measure = 1; break;
        case OPT_BW_MB:
            if (cli_parse_int("--bandwidth-mb", v, 1, 1 << 20, &bw_mib)) return CLI_EXIT_USAGE;
            measure = 1;
            break;
        }
    }
    rwkv_device_info d[16];
    int n = 0;
    rwkv_status st = rwkv_devices(d, 16, &n);
    if (json)
        puts("{\"id\":\"cpu\",\"type\":\"cpu\",\"usable\":true}");
    else
        printf("%-10s %s\n", "cpu", "the CPU");
    if (st != RWKV_OK || n == 0) {
        fprintf(stderr, "rwkv: %s\n", st != RWKV_OK ? rwkv_last_error() : "no Vulkan device found");
        return cli_write_stdout(NULL, 0) ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
    }
    for (int i = 0; i < n && i < 16; i++) {
        double gbs = 0;
        char bw[128] = "";
        if (measure && d[i].usable) {
            if (rwkv_device_bandwidth(d[i].id, bw_mib, 10, &gbs) == RWKV_OK)
                snprintf(bw, sizeof bw, ", copy bandwidth %.1f GB/s", gbs);
            else
                snprintf(bw, sizeof bw, ", copy bandwidth not measured: %.80s", rwkv_last_error());
        }
        if (json) {
            fputs("{\"id\":", stdout);
            cli_json_string(d[i].id);
            fputs(",\"name\":", stdout);
            cli_json_string(d[i].name);
            fputs(",\"type\":", stdout);
            cli_json_string(d[i].type);
            printf(",\"memory\":%" PRIu64 ",\"vulkan\":", d[i].memory);
            cli_json_string(d[i].api);
            fputs(",\"driver\":", stdout);
            cli_json_string(d[i].driver);
            printf(",\"subgroup_min\":%d,\"subgroup_max\":%d,\"shared_memory\":%d,\"fp16\":%s,\"int8\":%s,"
                   "\"coopmat\":%s,\"usable\":%s",
                   d[i].subgroup_min, d[i].subgroup_max, d[i].shared_memory, d[i].fp16 ? "true" : "false",
                   d[i].int8 ? "true" : "false", d[i].coopmat ? "true" : "false", d[i].usable ? "true" : "false");
            if (!d[i].usable) {
                fputs(",\"why_not\":", stdout);
                cli_json_string(d[i].why_not);
            }
            if (gbs > 0) printf(",\"copy_gbs\":%.6g,\"copy_mib\":%d", gbs, bw_mib);
            puts("}");
        } else {
            char sg[32];
            if (d[i].subgroup_min == d[i].subgroup_max)
                snprintf(sg, sizeof sg, "%d", d[i].subgroup_min);
            else
                snprintf(sg, sizeof sg, "%d-%d", d[i].subgroup_min, d[i].subgroup_max);
            printf("%-10s %s (%s), %.0f MiB, Vulkan %s, %s, subgroups %s%s%s%s%s%s%s\n", d[i].id, d[i].name, d[i].type,
                   (double)d[i].memory / 1048576.0, d[i].api, d[i].driver, sg, d[i].fp16 ? ", fp16" : "",
                   d[i].int8 ? ", int8" : "", d[i].coopmat ? ", coopmat" : "", bw, d[i].usable ? "" : ": not usable: ",
                   d[i].usable ? "" : d[i].why_not);
        }
    }
    if (n > 16) fprintf(stderr, "rwkv: %d more devices not listed\n", n - 16);
    return cli_write_stdout(NULL, 0) ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
}
