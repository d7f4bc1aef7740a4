/* cmd_devices.c — `rwkv devices`: the devices a model can run on (--device / RWKV_DEVICE): the CPU,
 * and every Vulkan device with its memory and the features the Vulkan backend looks at. */
#include "cli.h"

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
    if (json) {
        if (cli_print_json(json_pack("{s:s, s:s, s:b}", "id", "cpu", "type", "cpu", "usable", 1))) return CLI_EXIT_RUNTIME;
    } else
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
            json_t *j = json_pack("{s:o, s:o, s:o, s:I, s:o, s:o, s:i, s:i, s:i, s:b, s:b, s:b, s:b}", "id",
                                  cli_json_str(d[i].id), "name", cli_json_str(d[i].name), "type",
                                  cli_json_str(d[i].type), "memory", (json_int_t)d[i].memory, "vulkan",
                                  cli_json_str(d[i].api), "driver", cli_json_str(d[i].driver), "subgroup_min",
                                  d[i].subgroup_min, "subgroup_max", d[i].subgroup_max, "shared_memory",
                                  d[i].shared_memory, "fp16", d[i].fp16, "int8", d[i].int8, "coopmat", d[i].coopmat,
                                  "usable", d[i].usable);
            if (j && !d[i].usable) json_object_set_new(j, "why_not", cli_json_str(d[i].why_not));
            if (j && gbs > 0)
                json_object_update_new(j, json_pack("{s:o, s:i}", "copy_gbs", cli_json_number(gbs), "copy_mib", bw_mib));
            if (cli_print_json(j)) return CLI_EXIT_RUNTIME;
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
