#include "runtime/cpu/strided.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "runtime/cpu/dtype.h"

namespace janus::cpu {

size_t itemsize(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kFloat64:
    case ir::DType::kInt64:
      return 8;
    case ir::DType::kFloat32:
    case ir::DType::kInt32:
      return 4;
    case ir::DType::kFloat16:
    case ir::DType::kInt16:
      return 2;
    default:
      return 1;
  }
}

Shape shape_of(const ir::TensorType& type) {
  Shape shape;
  for (const ir::Dim& dim : type.shape) {
    if (!dim.is_known()) throw Unsupported("symbolic dim ?" + dim.symbol);
    shape.push_back(dim.size);
  }
  return shape;
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t step = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    strides[k] = step;
    step *= shape[k];
  }
  return strides;
}

Strides broadcast_strides(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) throw std::invalid_argument("broadcast to a lower rank");
  const Strides own = contiguous_strides(from);
  Strides strides(to.size(), 0);
  const size_t lead = to.size() - from.size();
  for (size_t k = 0; k < from.size(); ++k) {
    if (from[k] == to[lead + k]) {
      strides[lead + k] = from[k] == 1 ? 0 : own[k];
    } else if (from[k] != 1) {
      throw std::invalid_argument("shapes do not broadcast");
    }
  }
  return strides;
}

View contiguous_view(const Shape& shape) { return View{0, shape, contiguous_strides(shape)}; }

int64_t wrap_dim(int64_t dim, int64_t rank) {
  const int64_t wrapped = dim < 0 ? dim + rank : dim;
  if (wrapped < 0 || wrapped >= std::max<int64_t>(rank, 1)) {
    throw std::out_of_range("Dimension out of range (expected to be in range of [" +
                            std::to_string(-std::max<int64_t>(rank, 1)) + ", " +
                            std::to_string(std::max<int64_t>(rank, 1) - 1) + "], but got " +
                            std::to_string(dim) + ")");
  }
  return wrapped;
}

namespace {

// Python's slice.indices(size): the first index, the count, the step.
void slice_range(const ir::Attr& entry, int64_t size, int64_t* first, int64_t* count,
                 int64_t* step) {
  const ir::Attr& a = entry.list.at(1);
  const ir::Attr& b = entry.list.at(2);
  const ir::Attr& c = entry.list.at(3);
  *step = c.kind == ir::Attr::Kind::kInt ? c.i : 1;
  if (*step == 0) throw std::invalid_argument("slice step cannot be zero");
  const bool up = *step > 0;
  auto clamp = [&](const ir::Attr& v, int64_t fallback) {
    if (v.kind != ir::Attr::Kind::kInt) return fallback;
    int64_t i = v.i < 0 ? v.i + size : v.i;
    if (up) return std::clamp<int64_t>(i, 0, size);
    return std::clamp<int64_t>(i, -1, size - 1);
  };
  const int64_t start = clamp(a, up ? 0 : size - 1);
  const int64_t stop = clamp(b, up ? size : -1);
  *first = start;
  if (up) {
    *count = stop > start ? (stop - start + *step - 1) / *step : 0;
  } else {
    *count = start > stop ? (start - stop - *step - 1) / (-*step) : 0;
  }
}

}  // namespace

View basic_index_view(const Shape& shape, const ir::Attr& spec) {
  const Strides own = contiguous_strides(shape);
  int64_t consumed = 0;  // dims the spec indexes explicitly
  for (const ir::Attr& entry : spec.list) {
    const std::string& kind = entry.list.at(0).s;
    if (kind == "i" || kind == "s") ++consumed;
  }
  if (consumed > static_cast<int64_t>(shape.size())) {
    throw std::out_of_range("too many indices for tensor of dimension " +
                            std::to_string(shape.size()));
  }
  View view;
  size_t dim = 0;
  bool saw_ellipsis = false;
  for (const ir::Attr& entry : spec.list) {
    const std::string& kind = entry.list.at(0).s;
    if (kind == "n") {
      view.shape.push_back(1);
      view.strides.push_back(0);
    } else if (kind == "e") {
      const size_t width = shape.size() - static_cast<size_t>(consumed);
      for (size_t k = 0; k < width; ++k, ++dim) {
        view.shape.push_back(shape[dim]);
        view.strides.push_back(own[dim]);
      }
      saw_ellipsis = true;
    } else if (kind == "i") {
      int64_t i = entry.list.at(1).i;
      if (i < -shape[dim] || i >= shape[dim]) {
        throw std::out_of_range("index " + std::to_string(i) + " is out of bounds for dimension " +
                                std::to_string(dim) + " with size " + std::to_string(shape[dim]));
      }
      if (i < 0) i += shape[dim];
      view.offset += i * own[dim];
      ++dim;
    } else if (kind == "s") {
      int64_t first = 0, count = 0, step = 1;
      slice_range(entry, shape[dim], &first, &count, &step);
      if (count > 0) view.offset += first * own[dim];
      view.shape.push_back(count);
      view.strides.push_back(step * own[dim]);
      ++dim;
    } else {
      throw Unsupported("index spec entry '" + kind + "' is not basic indexing");
    }
  }
  (void)saw_ellipsis;
  for (; dim < shape.size(); ++dim) {  // trailing dims not named by the key
    view.shape.push_back(shape[dim]);
    view.strides.push_back(own[dim]);
  }
  return view;
}

template <typename T>
void gather_strided(T* dst, const T* base, const View& view, int64_t start, int64_t n) {
  const size_t rank = view.shape.size();
  if (rank == 0) {
    if (n > 0) dst[0] = base[view.offset];
    return;
  }
  // Multi-index of `start`, then walk the innermost dim in runs.
  std::vector<int64_t> index(rank);
  int64_t rest = start;
  for (size_t k = rank; k-- > 0;) {
    index[k] = rest % view.shape[k];
    rest /= view.shape[k];
  }
  int64_t offset = view.offset;
  for (size_t k = 0; k < rank; ++k) offset += index[k] * view.strides[k];
  const int64_t inner = view.shape[rank - 1];
  const int64_t stride = view.strides[rank - 1];
  while (n > 0) {
    const int64_t run = std::min(n, inner - index[rank - 1]);
    const T* src = base + offset;
    if (stride == 1) {
      std::copy(src, src + run, dst);
    } else if (stride == 0) {  // a broadcast value (a per-channel statistic)
      std::fill(dst, dst + run, *src);
    } else {
      for (int64_t j = 0; j < run; ++j) dst[j] = src[j * stride];
    }
    dst += run;
    n -= run;
    // Advance the multi-index by `run`, carrying into outer dims.
    index[rank - 1] += run;
    offset += run * stride;
    for (size_t k = rank - 1; k > 0 && index[k] == view.shape[k]; --k) {
      offset -= index[k] * view.strides[k];
      index[k] = 0;
      ++index[k - 1];
      offset += view.strides[k - 1];
    }
  }
}

template <typename T>
void scatter_strided(T* base, const View& view, const T* src) {
  const int64_t n = numel(view.shape);
  const size_t rank = view.shape.size();
  if (rank == 0) {
    base[view.offset] = src[0];
    return;
  }
  std::vector<int64_t> index(rank, 0);
  int64_t offset = view.offset;
  for (int64_t e = 0; e < n; ++e) {
    base[offset] = src[e];
    for (size_t k = rank; k-- > 0;) {
      offset += view.strides[k];
      if (++index[k] < view.shape[k]) break;
      offset -= index[k] * view.strides[k];
      index[k] = 0;
    }
  }
}

template <typename T>
void copy_strided(T* dst, const View& to, const T* src, const View& from) {
  const int64_t n = numel(to.shape);
  const size_t rank = to.shape.size();
  if (n == 0) return;
  if (rank == 0) {
    dst[to.offset] = src[from.offset];
    return;
  }
  std::vector<int64_t> index(rank, 0);
  int64_t d = to.offset, s = from.offset;
  const int64_t inner = to.shape[rank - 1];
  const int64_t ds = to.strides[rank - 1], ss = from.strides[rank - 1];
  for (int64_t e = 0; e < n; e += inner) {
    for (int64_t j = 0; j < inner; ++j) dst[d + j * ds] = src[s + j * ss];
    for (size_t k = rank - 1; k-- > 0;) {
      d += to.strides[k];
      s += from.strides[k];
      if (++index[k] < to.shape[k]) break;
      d -= index[k] * to.strides[k];
      s -= index[k] * from.strides[k];
      index[k] = 0;
    }
  }
}

#define JANUS_INSTANTIATE(T)                                                    \
  template void gather_strided<T>(T*, const T*, const View&, int64_t, int64_t); \
  template void scatter_strided<T>(T*, const View&, const T*);                  \
  template void copy_strided<T>(T*, const View&, const T*, const View&);
JANUS_INSTANTIATE(float)
JANUS_INSTANTIATE(double)
JANUS_INSTANTIATE(int64_t)
JANUS_INSTANTIATE(int32_t)
JANUS_INSTANTIATE(int16_t)
JANUS_INSTANTIATE(int8_t)
JANUS_INSTANTIATE(uint8_t)
JANUS_INSTANTIATE(bool)
#undef JANUS_INSTANTIATE

}  // namespace janus::cpu
