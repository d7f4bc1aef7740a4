/* generations.c — the generation table: every generation this build can run, tried in order by
 * rwkv_model_load (the first whose detect accepts the file's tensor names). To add a generation:
 * one file in src/gen/ with its rwkv_gen row (tensor names, per-layer weights, the forward of the
 * layers), its declaration in src/model/model.h and one entry here. */
#include "model/model.h"

const rwkv_gen *const rwkv_generations[] = {&rwkv_gen_v7, &rwkv_gen_v6, &rwkv_gen_v5_2, &rwkv_gen_v5_1,
                                            &rwkv_gen_v4, NULL};
