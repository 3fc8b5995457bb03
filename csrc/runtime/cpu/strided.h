// Shapes, strides and strided copies: the layout arithmetic shared by the CPU
// kernels. Every buffer the runtime owns is C-contiguous; views of the eager
// layer (permute, expand, slicing, flip) become strided reads of a buffer.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/attr.h"
#include "ir/types.h"

namespace janus::cpu {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;  // in elements; 0 for a broadcast dim

// The static shape of a value (throws Unsupported for symbolic dims).
Shape shape_of(const ir::TensorType& type);
int64_t numel(const Shape& shape);
Strides contiguous_strides(const Shape& shape);

// Strides reading a contiguous `from` array as if broadcast to `to` (numpy's
// rules: dims aligned on the right; size-1 dims repeat).
Strides broadcast_strides(const Shape& from, const Shape& to);

// A strided view of a contiguous array: element offset, shape, strides.
struct View {
  int64_t offset = 0;
  Shape shape;
  Strides strides;
};
View contiguous_view(const Shape& shape);
// The view numpy makes for x[key] with a basic key: the index_basic spec of
// janus.ops.indexing (["i", k], ["s", start, stop, step], ["n"], ["e"]).
View basic_index_view(const Shape& shape, const ir::Attr& spec);
// Normalizes a possibly negative dim (throws std::out_of_range).
int64_t wrap_dim(int64_t dim, int64_t rank);

// dst[0..n) = the elements start..start+n of `view` in C order.
template <typename T>
void gather_strided(T* dst, const T* base, const View& view, int64_t start, int64_t n);
// The elements of `view` in C order = src[0..numel).
template <typename T>
void scatter_strided(T* base, const View& view, const T* src);

// Copies the elements of `from` (in `src`) to `to` (in `dst`); the views have
// one shape.
template <typename T>
void copy_strided(T* dst, const View& to, const T* src, const View& from);

}  // namespace janus::cpu
