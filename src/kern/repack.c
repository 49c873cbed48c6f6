/* kern/repack.c — the 8-row interleaved weight layout (PD_LAYOUT_R8, described in kern.h) for
 * Q4_0, Q8_0, Q4_K, Q6_K, F32, F16 and BF16 matrices: rearranging a matrix into it, reading a row
 * back, and whether the active kernels read it. The decode loop reads each 8-row group as one
 * contiguous stream (the GGUF layout makes 8 streams of it, which ran at half the memory speed of
 * ggml's repacked layout); the tiles also skip the in-register transposes and scale gathers (the
 * float decode at the AVX-512 level loads two rows' 8-element chunks per vector, mm_f32_avx512.c).
 *
 * Per 8-row group and block index i, the group holds the 8 rows' block i in BS bytes each:
 * HB-byte heads (the F16 scale of Q4_0 / Q8_0; Q4_K and Q6_K have none) of rows 0..7, then word k
 * (32-bit) of the rest of row r's block at 8*HB + 4*(8k + r), then FB-byte feet (the block's last
 * bytes that make no whole word: Q6_K's F16 d, 2 bytes) of rows 0..7, row r's at 8*(BS - FB) + FB*r.
 * Groups follow each other; the last N mod 8
 * rows keep their GGUF bytes and offsets (a group takes exactly the bytes of its 8 rows).
 * F32 / F16 / BF16 (the float decode reads 8 rows at a time, for pd_dot_f32_lanes' 8 lanes): blocks
 * of 8 elements, no heads, the whole block one unit: block i of rows 0..7 one after the other, then
 * the rows' last K mod 8 elements, row after row, at the end of the group. */
#include "kern_impl.h"
#include <string.h>

typedef struct {
    size_t bs; /* bytes per block */
    size_t hb; /* head bytes per row before the interleaved units */
    size_t ub; /* bytes per interleaved unit: 4 (a 32-bit word), or bs (floats: the whole block) */
    int64_t be; /* elements per block */
    size_t fb; /* foot bytes per row: the block's last bytes, after the 8 rows' words (Q6_K: d) */
} r8_shape;

static bool r8_shape_of(pd_type t, r8_shape *s) {
    s->ub = 4;
    s->be = pd_type_block_elems(t);
    s->fb = 0;
    switch (t) {
    case PD_TYPE_Q4_0: s->bs = sizeof(pd_block_q4_0); s->hb = 2; return true;
    case PD_TYPE_Q8_0: s->bs = sizeof(pd_block_q8_0); s->hb = 2; return true;
    case PD_TYPE_Q4_K: s->bs = sizeof(pd_block_q4_K); s->hb = 0; return true;
    case PD_TYPE_Q6_K: s->bs = sizeof(pd_block_q6_K); s->hb = 0; s->fb = 2; return true;
    case PD_TYPE_F32: s->bs = s->ub = 32; s->hb = 0; s->be = 8; return true;
    case PD_TYPE_F16:
    case PD_TYPE_BF16: s->bs = s->ub = 16; s->hb = 0; s->be = 8; return true;
    default: return false;
    }
}

bool pd_r8_type(pd_type t) {
    r8_shape s;
    return r8_shape_of(t, &s);
}

static bool r8_float(pd_type t) { return t == PD_TYPE_F32 || t == PD_TYPE_F16 || t == PD_TYPE_BF16; }

/* Rows of W that a repack may take: the type, contiguous rows, at least one group. */
static pd_status r8_check(const pd_tensor *W, r8_shape *s, size_t *rb) {
    if (!W || !W->data) return pd_fail(PD_ERR_ARG, "repack: NULL tensor or data");
    const char *wn = W->name ? W->name : "(unnamed)";
    if (!r8_shape_of(W->type, s))
        return pd_fail(PD_ERR_UNSUPPORTED, "repack: weight '%s' has type %s (q4_0, q8_0, q4_K, q6_K, f32, f16, bf16)",
                       wn, pd_type_name(W->type));
    *rb = pd_row_bytes(W->type, W->ne[0]);
    if (!*rb) return pd_fail_ctx(PD_ERR_ARG, "repack: weight '%s'", wn);
    int64_t N = pd_tensor_nrows(W);
    if (W->nb[1] != *rb || (W->ne[2] > 1 && W->nb[2] != *rb * (size_t)W->ne[1]) ||
        (W->ne[3] > 1 && W->nb[3] != W->nb[2] * (size_t)W->ne[2]))
        return pd_fail(PD_ERR_ARG, "repack: weight '%s' rows are not contiguous", wn);
    if (N < 8) return pd_fail(PD_ERR_ARG, "repack: weight '%s' has %lld rows (at least 8)", wn, (long long)N);
    return PD_OK;
}

/* Row rr's block i of the 8-row group at grp, back in its GGUF bytes (s->bs of them) at out. */
static void r8_gather_block(const char *grp, const r8_shape *s, size_t rr, int64_t i, char *out) {
    const char *b = grp + (size_t)i * 8 * s->bs;
    const size_t u = s->ub;
    memcpy(out, b + s->hb * rr, s->hb);
    for (size_t k = 0; k < (s->bs - s->hb) / u; k++) memcpy(out + s->hb + u * k, b + 8 * s->hb + u * (8 * k + rr), u);
    memcpy(out + s->bs - s->fb, b + 8 * (s->bs - s->fb) + s->fb * rr, s->fb);
}

/* the bytes of a row past its last whole block (floats: K mod 8 elements; 0 for the quantised types),
 * stored row after row at the end of each group */
static size_t r8_tail_bytes(const r8_shape *s, size_t rb) { return rb - rb / s->bs * s->bs; }

bool pd_repack_supported(const pd_tensor *W) {
    r8_shape s;
    if (!W || !W->data || W->layout != PD_LAYOUT_ROWS || !r8_shape_of(W->type, &s)) return false;
    /* floats: the level's own product (mm_float) reads the layout; quantised: an 8-row tile */
    const pd_kern_table *kt = pd_kern_active();
    if (r8_float(W->type) ? !kt->mm_float[W->type] : !kt->tile_r8[W->type]) return false;
    size_t rb = pd_row_bytes(W->type, W->ne[0]);
    return rb && W->nb[1] == rb && W->ne[2] == 1 && W->ne[3] == 1 && W->ne[1] >= 8;
}

pd_status pd_repack_r8(pd_tensor *W, void *dst) {
    r8_shape s;
    size_t rb;
    PD_TRY(r8_check(W, &s, &rb));
    if (W->layout != PD_LAYOUT_ROWS)
        return pd_fail(PD_ERR_STATE, "repack: weight '%s' is already repacked", W->name ? W->name : "(unnamed)");
    if (!dst) return pd_fail(PD_ERR_ARG, "repack: NULL destination");
    const int64_t N = pd_tensor_nrows(W), G = N / 8, nblk = (int64_t)(rb / s.bs);
    const size_t u = s.ub, nw = (s.bs - s.hb) / u, tb = r8_tail_bytes(&s, rb);
    const char *src = W->data;
    char *out = dst;
#pragma omp parallel for schedule(static) if (G >= 64)
    for (int64_t g = 0; g < G; g++) {
        for (int64_t i = 0; i < nblk; i++) {
            char *o = out + (size_t)g * 8 * rb + (size_t)i * 8 * s.bs;
            for (int r = 0; r < 8; r++) {
                const char *b = src + (size_t)(8 * g + r) * rb + (size_t)i * s.bs;
                memcpy(o + s.hb * (size_t)r, b, s.hb);
                for (size_t k = 0; k < nw; k++) memcpy(o + 8 * s.hb + u * (8 * k + (size_t)r), b + s.hb + u * k, u);
                memcpy(o + 8 * (s.bs - s.fb) + s.fb * (size_t)r, b + s.bs - s.fb, s.fb);
            }
        }
        for (int r = 0; r < 8 && tb; r++)
            memcpy(out + (size_t)g * 8 * rb + (size_t)nblk * 8 * s.bs + (size_t)r * tb,
                   src + (size_t)(8 * g + r) * rb + (size_t)nblk * s.bs, tb);
    }
    memcpy(out + (size_t)G * 8 * rb, src + (size_t)G * 8 * rb, (size_t)(N - 8 * G) * rb);
    W->data = dst;
    W->layout = PD_LAYOUT_R8;
    return PD_OK;
}

pd_status pd_tensor_row_f32(const pd_tensor *W, int64_t r, float *dst) {
    if (!W || !W->data || !dst) return pd_fail(PD_ERR_ARG, "row to f32: NULL argument");
    if (r < 0 || r >= pd_tensor_nrows(W))
        return pd_fail(PD_ERR_RANGE, "row to f32: row %lld of '%s' is out of range", (long long)r,
                       W->name ? W->name : "(unnamed)");
    r8_shape s;
    size_t rb;
    if (W->layout == PD_LAYOUT_ROWS || r >= pd_tensor_nrows(W) / 8 * 8)
        return pd_dequantize_row(W->type, (const char *)W->data + (size_t)r * W->nb[1], dst, W->ne[0]);
    PD_TRY(r8_check(W, &s, &rb));
    const int64_t be = s.be, nblk = (int64_t)(rb / s.bs);
    const char *grp = (const char *)W->data + (size_t)(r / 8) * 8 * rb;
    char blk[sizeof(pd_block_q6_K)]; /* the largest block */
    for (int64_t i = 0; i < nblk; i++) { /* block by block: no row buffer */
        r8_gather_block(grp, &s, (size_t)(r % 8), i, blk);
        PD_TRY(pd_dequantize_row(W->type, blk, dst + i * be, be));
    }
    size_t tb = r8_tail_bytes(&s, rb);
    if (tb)
        PD_TRY(pd_dequantize_row(W->type, grp + (size_t)nblk * 8 * s.bs + (size_t)(r % 8) * tb, dst + nblk * be,
                                 W->ne[0] - nblk * be));
    return PD_OK;
}

pd_status pd_unpack_row(const pd_tensor *W, int64_t r, void *dst) {
    if (!W || !W->data || !dst) return pd_fail(PD_ERR_ARG, "unpack row: NULL argument");
    if (r < 0 || r >= pd_tensor_nrows(W))
        return pd_fail(PD_ERR_RANGE, "unpack row: row %lld of '%s' is out of range", (long long)r,
                       W->name ? W->name : "(unnamed)");
    if (W->layout == PD_LAYOUT_ROWS) {
        size_t rb = pd_row_bytes(W->type, W->ne[0]);
        if (!rb) return pd_fail_ctx(PD_ERR_ARG, "unpack row");
        memcpy(dst, (const char *)W->data + (size_t)r * W->nb[1], rb);
        return PD_OK;
    }
    r8_shape s;
    size_t rb;
    PD_TRY(r8_check(W, &s, &rb));
    const int64_t G = pd_tensor_nrows(W) / 8, nblk = (int64_t)(rb / s.bs);
    const char *src = W->data;
    char *o = dst;
    if (r >= 8 * G) {
        memcpy(o, src + (size_t)r * rb, rb);
        return PD_OK;
    }
    const char *grp = src + (size_t)(r / 8) * 8 * rb;
    for (int64_t i = 0; i < nblk; i++) r8_gather_block(grp, &s, (size_t)(r % 8), i, o + (size_t)i * s.bs);
    size_t tb = r8_tail_bytes(&s, rb);
    memcpy(o + (size_t)nblk * s.bs, grp + (size_t)nblk * 8 * s.bs + (size_t)(r % 8) * tb, tb);
    return PD_OK;
}
