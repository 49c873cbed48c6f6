#!/usr/bin/env python3
"""fuzz/tools/model_seeds.py — writes the small GGUF seeds of fuzz_model that ponder itself cannot
train: a phi3 model (fused attn_qkv and gate|up, rope_factors_long/short, original context length),
a llama with Q8_0 matrices, a llama with linear rope scaling + attn_factor, and a Llama-3.1-style
model with rope_freqs. Random weights; only the structure matters (the fuzzer mutates from these).

    python3 fuzz/tools/model_seeds.py fuzz/corpus/fuzz_model
"""
import os
import random
import struct
import sys

GGUF_U32, GGUF_F32, GGUF_STR = 4, 6, 8
T_F32, T_Q8_0 = 0, 8
ALIGN = 32


def kv_str(key, val):
    k, v = key.encode(), val.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", GGUF_STR) + struct.pack("<Q", len(v)) + v


def kv_u32(key, val):
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<II", GGUF_U32, val)


def kv_f32(key, val):
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<If", GGUF_F32, val)


def f32_data(n, rng, scale=0.5):
    return struct.pack("<%df" % n, *[rng.uniform(-scale, scale) for _ in range(n)])


def q8_0_data(ne0, ne1, rng):
    """Q8_0 rows: per 32 values an F16 scale then 32 int8 quants."""
    assert ne0 % 32 == 0
    out = bytearray()
    for _ in range(ne1 * ne0 // 32):
        out += struct.pack("<e", rng.uniform(0.001, 0.02))
        out += struct.pack("<32b", *[rng.randint(-127, 127) for _ in range(32)])
    return bytes(out)


def write(path, kvs, tensors):
    """tensors: list of (name, ne list, type, bytes)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    infos, blobs, off = b"", b"", 0
    for name, ne, typ, data in tensors:
        n = name.encode()
        infos += struct.pack("<Q", len(n)) + n + struct.pack("<I", len(ne))
        infos += struct.pack("<%dQ" % len(ne), *ne) + struct.pack("<IQ", typ, off)
        pad = (-len(data)) % ALIGN
        blobs += data + b"\0" * pad
        off += len(data) + pad
    body = head + infos
    body += b"\0" * ((-len(body)) % ALIGN)
    with open(path, "wb") as f:
        f.write(body + blobs)


def base_kvs(arch, E, L, F, H, HKV, ctx=64):
    return [kv_str("general.architecture", arch), kv_u32(arch + ".context_length", ctx),
            kv_u32(arch + ".embedding_length", E), kv_u32(arch + ".block_count", L),
            kv_u32(arch + ".feed_forward_length", F), kv_u32(arch + ".attention.head_count", H),
            kv_u32(arch + ".attention.head_count_kv", HKV),
            kv_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5)]


def llama_tensors(E, F, V, H, HKV, rng, typ=T_F32):
    hd = E // H
    def mat(ne0, ne1):
        if typ == T_Q8_0:
            return (typ, q8_0_data(ne0, ne1, rng))
        return (T_F32, f32_data(ne0 * ne1, rng))
    t = [("token_embd.weight", [E, V], *mat(E, V)), ("output_norm.weight", [E], T_F32, f32_data(E, rng, 1.0)),
         ("blk.0.attn_norm.weight", [E], T_F32, f32_data(E, rng, 1.0)),
         ("blk.0.attn_q.weight", [E, H * hd], *mat(E, H * hd)),
         ("blk.0.attn_k.weight", [E, HKV * hd], *mat(E, HKV * hd)),
         ("blk.0.attn_v.weight", [E, HKV * hd], *mat(E, HKV * hd)),
         ("blk.0.attn_output.weight", [H * hd, E], *mat(H * hd, E)),
         ("blk.0.ffn_norm.weight", [E], T_F32, f32_data(E, rng, 1.0)),
         ("blk.0.ffn_gate.weight", [E, F], *mat(E, F)), ("blk.0.ffn_up.weight", [E, F], *mat(E, F)),
         ("blk.0.ffn_down.weight", [F, E], *mat(F, E))]
    return t


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/fuzz_model"
    os.makedirs(out, exist_ok=True)
    rng = random.Random(17)
    # phi3: fused qkv [E, 3E], fused gate|up [E, 2F], rope factors (n_rot/2 each), NEOX rope.
    E, F, V, H = 8, 8, 6, 2
    hd = E // H
    kvs = base_kvs("phi3", E, 1, F, H, H, ctx=32) + [kv_u32("phi3.rope.dimension_count", hd),
                                                     kv_u32("phi3.rope.scaling.original_context_length", 16),
                                                     kv_f32("phi3.rope.scaling.attn_factor", 1.19)]
    t = [("token_embd.weight", [E, V], T_F32, f32_data(E * V, rng)),
         ("output_norm.weight", [E], T_F32, f32_data(E, rng, 1.0)),
         ("output.weight", [E, V], T_F32, f32_data(E * V, rng)),
         ("rope_factors_long.weight", [hd // 2], T_F32, struct.pack("<%df" % (hd // 2), *[1.0 + i for i in range(hd // 2)])),
         ("rope_factors_short.weight", [hd // 2], T_F32, struct.pack("<%df" % (hd // 2), *[1.0] * (hd // 2))),
         ("blk.0.attn_norm.weight", [E], T_F32, f32_data(E, rng, 1.0)),
         ("blk.0.attn_qkv.weight", [E, 3 * E], T_F32, f32_data(3 * E * E, rng)),
         ("blk.0.attn_output.weight", [E, E], T_F32, f32_data(E * E, rng)),
         ("blk.0.ffn_norm.weight", [E], T_F32, f32_data(E, rng, 1.0)),
         ("blk.0.ffn_up.weight", [E, 2 * F], T_F32, f32_data(2 * E * F, rng)),
         ("blk.0.ffn_down.weight", [F, E], T_F32, f32_data(F * E, rng))]
    write(os.path.join(out, "seed-phi3-fused-ropefactors.gguf"), kvs, t)
    # llama with Q8_0 matrices (rows must be multiples of 32), GQA 2:1.
    E, F, V, H, HKV = 32, 32, 4, 2, 1
    write(os.path.join(out, "seed-llama-q8_0-gqa.gguf"), base_kvs("llama", E, 1, F, H, HKV),
          llama_tensors(E, F, V, H, HKV, rng, T_Q8_0))
    # llama, linear rope scaling with an attention factor.
    E, F, V, H = 8, 8, 6, 2
    kvs = base_kvs("llama", E, 1, F, H, H) + [kv_str("llama.rope.scaling.type", "linear"),
                                              kv_f32("llama.rope.scaling.factor", 4.0),
                                              kv_f32("llama.rope.scaling.attn_factor", 0.9),
                                              kv_f32("llama.rope.freq_base", 500000.0)]
    write(os.path.join(out, "seed-llama-rope-linear.gguf"), kvs, llama_tensors(E, F, V, H, H, rng))
    # Llama-3.1 style rope_freqs (one factor per rotary pair).
    hd = E // H
    t = llama_tensors(E, F, V, H, H, rng) + [("rope_freqs.weight", [hd // 2], T_F32,
                                             struct.pack("<%df" % (hd // 2), *[1.0, 8.0][: hd // 2]))]
    write(os.path.join(out, "seed-llama-rope-freqs.gguf"), base_kvs("llama", E, 1, F, H, H), t)


if __name__ == "__main__":
    main()
