// conv2d and its two gradient ops (janus.ops.convolution) on GEMM:
//   conv2d(x, w)                    y[n, g]  = W[g] @ cols(x[n, g])
//   conv2d_input_grad(gy, w)        dx[n, g] = col2im(W[g]^T @ gy[n, g])
//   conv2d_weight_grad(x, gy)       dW[g]    = sum_n gy[n, g] @ cols(x[n, g])^T
// with W[g] the group's weights as an (Og, K) matrix, K = Cg * kh * kw, and
// cols(...) the (K, OH * OW) im2col matrix of one image's group channels.
//
// Small feature maps are processed in chunks of images whose columns sit side
// by side in one cols matrix, so they still make one wide GEMM; large ones one
// image at a time, in blocks of output rows (bounded scratch), reading and
// writing the tensors in place (no gather or scatter copies). A 1x1
// kernel with stride 1 and no padding needs no im2col at all: the image is its
// cols matrix. Every window tap is range-checked against the input, so any
// geometry the IR can state is safe (taps outside read as zero).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/gemm.h"
#include "runtime/cpu/lower.h"
#include "runtime/cpu/window.h"

namespace janus::cpu {
namespace {

struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input x: N, C, H, W
  int64_t o = 0, kh = 0, kw = 0;       // weight: O, C / groups, kh, kw
  int64_t oh = 0, ow = 0;              // output y (and gy): N, O, OH, OW
  int64_t groups = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;

  int64_t cg() const { return c / groups; }
  int64_t og() const { return o / groups; }
  int64_t depth() const { return cg() * kh * kw; }  // K: one window's taps
  int64_t positions() const { return oh * ow; }     // P: output positions per image
  int64_t plane() const { return h * w; }
  bool identity_cols() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  }
};

std::pair<int64_t, int64_t> pair_attr(const LowerContext& ctx, const char* name) {
  const std::vector<int64_t> v = int_list(ctx.attr(name));
  if (v.size() != 2) throw Unsupported(std::string("conv: ") + name + " must be a pair");
  return {v[0], v[1]};
}

// The geometry from the three shapes (x, w, y); throws Unsupported for
// anything the eager op would reject, so that it reports the error.
ConvGeometry geometry(const LowerContext& ctx, const Shape& x, const Shape& w, const Shape& y) {
  if (x.size() != 4 || w.size() != 4 || y.size() != 4) throw Unsupported("conv: 4-D tensors only");
  ConvGeometry g;
  g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
  g.o = w[0], g.kh = w[2], g.kw = w[3];
  g.oh = y[2], g.ow = y[3];
  g.groups = ctx.attr("groups").i;
  std::tie(g.sh, g.sw) = pair_attr(ctx, "stride");
  std::tie(g.ph, g.pw) = pair_attr(ctx, "padding");
  std::tie(g.dh, g.dw) = pair_attr(ctx, "dilation");
  if (g.groups <= 0 || g.c % g.groups || g.o % g.groups || w[1] != g.cg() || y[0] != g.n ||
      y[1] != g.o) {
    throw Unsupported("conv: channels and groups disagree");
  }
  if (g.sh <= 0 || g.sw <= 0 || g.dh <= 0 || g.dw <= 0 || g.ph < 0 || g.pw < 0) {
    throw Unsupported("conv: bad stride, dilation or padding");
  }
  return g;
}

// Output rows [y0, y1) of one block: the cols matrix then has (y1 - y0) * OW
// columns per image.
struct Rows {
  int64_t y0, y1;
};

// Writes the cols rows of one image's group channels (Cg planes of H x W),
// output rows `block`, into columns [0, (y1 - y0) * OW) of `cols`, whose rows
// are `ld` long. Row (c, i, j) holds the tap (i, j) of channel c at every
// output position of the block.
template <typename T>
void im2col(const ConvGeometry& g, const T* image, Rows block, T* cols, int64_t ld) {
  const int64_t count = (block.y1 - block.y0) * g.ow;
  for (int64_t c = 0; c < g.cg(); ++c) {
    const T* plane = image + c * g.plane();
    for (int64_t i = 0; i < g.kh; ++i) {
      const Inside all = inside_range(i * g.dh - g.ph, g.sh, g.h, g.oh);
      const int64_t lo = std::clamp(all.lo, block.y0, block.y1);
      const int64_t hi = std::clamp(all.hi, lo, block.y1);
      for (int64_t j = 0; j < g.kw; ++j, cols += ld) {
        const int64_t col_offset = j * g.dw - g.pw;
        const Inside span = inside_range(col_offset, g.sw, g.w, g.ow);
        std::fill(cols, cols + (lo - block.y0) * g.ow, T(0));
        for (int64_t y = lo; y < hi; ++y) {
          const T* src = plane + (y * g.sh + i * g.dh - g.ph) * g.w + col_offset;
          T* dst = cols + (y - block.y0) * g.ow;
          std::fill(dst, dst + span.lo, T(0));
          if (g.sw == 1) {
            std::memcpy(dst + span.lo, src + span.lo, sizeof(T) * (span.hi - span.lo));
          } else {
            for (int64_t x = span.lo; x < span.hi; ++x) dst[x] = src[x * g.sw];
          }
          std::fill(dst + span.hi, dst + g.ow, T(0));
        }
        std::fill(cols + (hi - block.y0) * g.ow, cols + count, T(0));
      }
    }
  }
}

// The adjoint of im2col: adds every tap of `cols` back onto the image pixel it
// was read from (taps on padding are dropped).
template <typename T>
void col2im(const ConvGeometry& g, const T* cols, int64_t ld, Rows block, T* image) {
  for (int64_t c = 0; c < g.cg(); ++c) {
    T* plane = image + c * g.plane();
    for (int64_t i = 0; i < g.kh; ++i) {
      const Inside all = inside_range(i * g.dh - g.ph, g.sh, g.h, g.oh);
      const int64_t lo = std::clamp(all.lo, block.y0, block.y1);
      const int64_t hi = std::clamp(all.hi, lo, block.y1);
      for (int64_t j = 0; j < g.kw; ++j, cols += ld) {
        const int64_t col_offset = j * g.dw - g.pw;
        const Inside span = inside_range(col_offset, g.sw, g.w, g.ow);
        for (int64_t y = lo; y < hi; ++y) {
          T* dst = plane + (y * g.sh + i * g.dh - g.ph) * g.w + col_offset;
          const T* src = cols + (y - block.y0) * g.ow;
          for (int64_t x = span.lo; x < span.hi; ++x) dst[x * g.sw] += src[x];
        }
      }
    }
  }
}

// Copies between the per-image rows of an (N, O, P) tensor and a chunk matrix
// (Og, m * P) of group `grp`, images n0 .. n0 + m - 1 side by side.
template <typename T>
void gather_group(const ConvGeometry& g, const T* t, int64_t n0, int64_t m, int64_t grp, T* mat) {
  const int64_t p = g.positions();
  for (int64_t r = 0; r < g.og(); ++r) {
    for (int64_t l = 0; l < m; ++l) {
      std::memcpy(mat + (r * m + l) * p, t + ((n0 + l) * g.o + grp * g.og() + r) * p,
                  sizeof(T) * p);
    }
  }
}
template <typename T>
void scatter_group(const ConvGeometry& g, const T* mat, int64_t n0, int64_t m, int64_t grp, T* t) {
  const int64_t p = g.positions();
  for (int64_t r = 0; r < g.og(); ++r) {
    for (int64_t l = 0; l < m; ++l) {
      std::memcpy(t + ((n0 + l) * g.o + grp * g.og() + r) * p, mat + (r * m + l) * p,
                  sizeof(T) * p);
    }
  }
}

// How the work is cut: chunks of `images` images (enough columns for an
// efficient GEMM when feature maps are small), or, for one image, blocks of
// `rows` output rows whose cols matrix stays in cache (large feature maps).
// A 1x1 identity convolution reads whole images in place.
struct Blocking {
  int64_t images = 1, rows = 0;
};

Blocking blocking(const ConvGeometry& g, size_t itemsize) {
  constexpr int64_t kTargetColumns = 512;
  constexpr int64_t kScratchBytes = int64_t{16} << 20;
  constexpr int64_t kBlockBytes = int64_t{1} << 20;  // cols of one row block
  const int64_t p = std::max<int64_t>(g.positions(), 1);
  if (g.identity_cols()) return {1, g.oh};
  if (p >= kTargetColumns) {
    const int64_t row_bytes = std::max<int64_t>(g.depth() * g.ow * itemsize, 1);
    const int64_t rows = std::max(kBlockBytes / row_bytes, ceil_div(kTargetColumns, g.ow));
    return {1, std::clamp<int64_t>(rows, 1, g.oh)};
  }
  const int64_t per_image = std::max<int64_t>(g.depth(), g.og()) * p * itemsize;
  const int64_t budget = std::max<int64_t>(kScratchBytes / std::max<int64_t>(per_image, 1), 1);
  const int64_t most = std::max<int64_t>(std::min(budget, g.n), 1);  // 1 for an empty batch
  return {std::clamp<int64_t>(ceil_div(kTargetColumns, p), 1, most), g.oh};
}

// Scratch of one program step (programs are not reentrant).
template <typename T>
struct Scratch {
  std::vector<T> cols, mat;  // (K, columns) and (Og, columns) of a block
};

enum class Which { kForward, kInputGrad, kWeightGrad };

// One block: images n0 .. n0 + m - 1 (side by side in the columns), output
// rows `rows`, group `grp`. With one image, gy and y are read and written in
// place (leading dimension P); with several, through the chunk matrix.
template <typename T>
void run_block(const ConvGeometry& g, Which which, const T* a, const T* b, T* out, int64_t n0,
               int64_t m, Rows rows, int64_t grp, Scratch<T>& s) {
  const int64_t k = g.depth(), p = g.positions(), og = g.og(), plane = g.plane();
  const int64_t per_image = (rows.y1 - rows.y0) * g.ow, columns = m * per_image;
  const int64_t image_step = g.c * plane;  // between consecutive images of x or dx
  const T* w = b + grp * og * k;           // forward and input grad: the group's weights
  const int64_t first = (n0 * g.o + grp * og) * p + rows.y0 * g.ow;  // of y or gy
  const int64_t ld = m == 1 ? p : columns;
  T* cols = s.cols.data();
  if (which == Which::kInputGrad) {
    const T* gy = a + first;
    if (m > 1) {
      gather_group(g, a, n0, m, grp, s.mat.data());
      gy = s.mat.data();
    }
    T* dx = out + (n0 * g.c + grp * g.cg()) * plane;
    if (g.identity_cols()) {  // one image: its cols matrix is dx itself
      gemm<T>(true, false, k, columns, og, T(1), w, k, gy, ld, T(0), dx, columns);
      return;
    }
    gemm<T>(true, false, k, columns, og, T(1), w, k, gy, ld, T(0), cols, columns);
    for (int64_t l = 0; l < m; ++l) {
      col2im(g, cols + l * per_image, columns, rows, dx + l * image_step);
    }
    return;
  }
  const T* x = a + (n0 * g.c + grp * g.cg()) * plane;
  const T* x_cols = x;
  if (!g.identity_cols()) {
    for (int64_t l = 0; l < m; ++l) {
      im2col(g, x + l * image_step, rows, cols + l * per_image, columns);
    }
    x_cols = cols;
  }
  if (which == Which::kForward) {
    T* y = m == 1 ? out + first : s.mat.data();
    gemm<T>(false, false, og, columns, k, T(1), w, k, x_cols, columns, T(0), y, ld);
    if (m > 1) scatter_group(g, s.mat.data(), n0, m, grp, out);
    return;
  }
  const T* gy = b + first;  // weight grad: dW[grp] += gy @ cols^T
  if (m > 1) {
    gather_group(g, b, n0, m, grp, s.mat.data());
    gy = s.mat.data();
  }
  gemm<T>(false, true, og, k, columns, T(1), gy, ld, x_cols, columns, T(1), out + grp * og * k, k);
}

template <typename T>
Kernel conv_kernel(const ConvGeometry& g, Which which, int s0, int s1, int so) {
  const Blocking cut = blocking(g, sizeof(T));
  const int64_t columns = cut.images * cut.rows * g.ow;
  auto scratch = std::make_shared<Scratch<T>>();
  if (!g.identity_cols()) scratch->cols.resize(static_cast<size_t>(g.depth() * columns));
  if (cut.images > 1) scratch->mat.resize(static_cast<size_t>(g.og() * columns));
  return [=](void* const* slots) {
    const T* a = static_cast<const T*>(slots[s0]);
    const T* b = static_cast<const T*>(slots[s1]);
    T* out = static_cast<T*>(slots[so]);
    if (which == Which::kInputGrad) std::fill(out, out + g.n * g.c * g.plane(), T(0));
    if (which == Which::kWeightGrad) std::fill(out, out + g.o * g.depth(), T(0));
    for (int64_t n0 = 0; n0 < g.n; n0 += cut.images) {
      const int64_t m = std::min(cut.images, g.n - n0);
      for (int64_t y0 = 0; y0 < g.oh; y0 += cut.rows) {
        for (int64_t grp = 0; grp < g.groups; ++grp) {
          run_block(g, which, a, b, out, n0, m, {y0, std::min(y0 + cut.rows, g.oh)}, grp, *scratch);
        }
      }
    }
  };
}

}  // namespace

Kernel lower_conv(const LowerContext& ctx) {
  const std::string op = ir::op_name(ctx.node.kind);
  const ir::DType dtype = ctx.out_type().dtype;
  if (ctx.value(0)->type.dtype != dtype || ctx.value(1)->type.dtype != dtype) {
    throw Unsupported(op + " of mixed dtypes");
  }
  const Shape first = shape_of(ctx.value(0)->type), second = shape_of(ctx.value(1)->type);
  const Shape out = shape_of(ctx.out_type());
  Which which;
  ConvGeometry g;
  if (op == "conv2d") {
    which = Which::kForward;
    g = geometry(ctx, first, second, out);
    const int64_t oh = window_out_size(g.h, g.kh, g.sh, g.ph, g.dh, false);
    const int64_t ow = window_out_size(g.w, g.kw, g.sw, g.pw, g.dw, false);
    if (oh != g.oh || ow != g.ow) throw Unsupported("conv2d: output shape disagrees");
  } else if (op == "conv2d_input_grad") {
    which = Which::kInputGrad;
    g = geometry(ctx, out, second, first);
  } else if (op == "conv2d_weight_grad") {
    which = Which::kWeightGrad;
    g = geometry(ctx, first, out, second);
  } else {
    throw Unsupported("no kernel for " + op);
  }
  const int s0 = ctx.operand_slots[0], s1 = ctx.operand_slots[1], so = ctx.output_slots[0];
  return visit_float(dtype, [&](auto tag) -> Kernel {
    return conv_kernel<typename decltype(tag)::type>(g, which, s0, s1, so);
  });
}

}  // namespace janus::cpu
