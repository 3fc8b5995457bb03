// Op attributes: the static arguments of an op (dims, strides, an indexing
// spec...), the values janus.ops passes as keyword arguments. Python's None,
// bool, int, float, str and (nested) tuples map onto one small tree type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace janus::ir {

struct Attr {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kList };

  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::vector<Attr> list;

  static Attr none() { return Attr{}; }
  static Attr boolean(bool v) {
    Attr a;
    a.kind = Kind::kBool;
    a.b = v;
    return a;
  }
  static Attr integer(int64_t v) {
    Attr a;
    a.kind = Kind::kInt;
    a.i = v;
    return a;
  }
  static Attr real(double v) {
    Attr a;
    a.kind = Kind::kFloat;
    a.f = v;
    return a;
  }
  static Attr string(std::string v) {
    Attr a;
    a.kind = Kind::kString;
    a.s = std::move(v);
    return a;
  }
  static Attr of_list(std::vector<Attr> items) {
    Attr a;
    a.kind = Kind::kList;
    a.list = std::move(items);
    return a;
  }

  bool operator==(const Attr& other) const;
};

// Text form: none, true/false, 3, 2.5 (always with '.', 'e', "inf" or "nan"),
// "text" (with \" and \\ escapes), [a, b, ...].
std::string to_string(const Attr& attr);

}  // namespace janus::ir
