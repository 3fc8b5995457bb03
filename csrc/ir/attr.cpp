#include "ir/attr.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace janus::ir {

bool Attr::operator==(const Attr& other) const {
  if (kind != other.kind) return false;
  switch (kind) {
    case Kind::kNone:
      return true;
    case Kind::kBool:
      return b == other.b;
    case Kind::kInt:
      return i == other.i;
    case Kind::kFloat:
      return f == other.f || (std::isnan(f) && std::isnan(other.f));
    case Kind::kString:
      return s == other.s;
    case Kind::kList:
      return list == other.list;
  }
  return false;
}

std::string to_string(const Attr& attr) {
  switch (attr.kind) {
    case Attr::Kind::kNone:
      return "none";
    case Attr::Kind::kBool:
      return attr.b ? "true" : "false";
    case Attr::Kind::kInt:
      return std::to_string(attr.i);
    case Attr::Kind::kFloat: {
      if (std::isnan(attr.f)) return "nan";
      if (std::isinf(attr.f)) return attr.f > 0 ? "inf" : "-inf";
      // The shortest form that reads back as the same double (as Python's repr).
      char buffer[32];
      for (int digits = 15; digits <= 17; ++digits) {
        std::snprintf(buffer, sizeof buffer, "%.*g", digits, attr.f);
        if (std::strtod(buffer, nullptr) == attr.f) break;
      }
      std::string text = buffer;
      if (text.find_first_of(".e") == std::string::npos) text += ".0";
      return text;
    }
    case Attr::Kind::kString: {
      std::string text = "\"";
      for (char c : attr.s) {
        if (c == '"' || c == '\\') text += '\\';
        text += c;
      }
      return text + "\"";
    }
    case Attr::Kind::kList: {
      std::string text = "[";
      for (size_t k = 0; k < attr.list.size(); ++k) {
        if (k) text += ", ";
        text += to_string(attr.list[k]);
      }
      return text + "]";
    }
  }
  return "?";
}

}  // namespace janus::ir
