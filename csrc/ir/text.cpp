// The IR's text form, printed and parsed back:
//
//   graph(%x: f32[2,?n], %w: f32[3,4]@cuda:0) {
//     %0: f32[2,4] = matmul(%x, %w)
//     %1: f32[2,4], %2: i64[2] = max_dim(%0) {dim=1, keepdim=false, largest=true}
//     %3: f32[2,4] = add(%1, 2.0)
//     %4: bool[] = all(%3)
//     assert(%4) {id=0, message="x > -2"}
//     return %3, %2
//   }
//
// Operands are values (%name) or constants (the attribute syntax); attributes
// follow in braces, sorted by name. A control node's regions follow it, each
// named (then, else, body) with its inputs and statements, in a scope of its
// own; the module's functions follow the graph:
//
//   graph(%p: bool[], %x: f32[3]) {
//     %r: f32[3] = cond(%p, %x) then(%a: f32[3]) {
//       %0: f32[3] = mul(%a, 2.0)
//       return %0
//     } else(%a: f32[3]) {
//       return %a
//     }
//     %s: f32[3] = call(%r) {callee="twice"}
//     return %s
//   }
//   function twice(%a: f32[3]) {
//     %0: f32[3] = add(%a, %a)
//     return %0
//   }
#include <cctype>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "ir/graph.h"
#include "ir/structural.h"

namespace janus::ir {

// ----- printing -----

namespace {

std::string typed(const Value* value) {
  if (!value->typed) return "%" + value->name;
  return "%" + value->name + ": " + to_string(value->type);
}

std::string signature(const Graph& graph) {
  std::string text = "(";
  for (size_t k = 0; k < graph.inputs().size(); ++k) {
    if (k) text += ", ";
    text += typed(graph.inputs()[k]);
  }
  return text + ") {\n";
}

// The statements of `graph` and its return, each line indented by `indent`,
// then the closing brace indented by `indent` minus one level.
std::string print_body(const Graph& graph, const std::string& indent) {
  std::string text;
  for (const auto& node : graph.nodes()) {
    text += indent;
    for (size_t k = 0; k < node->outputs.size(); ++k) {
      if (k) text += ", ";
      text += typed(node->outputs[k]);
    }
    if (!node->outputs.empty()) text += " = ";  // an assert has no results
    text += std::string(op_name(node->kind)) + "(";
    for (size_t k = 0; k < node->operands.size(); ++k) {
      if (k) text += ", ";
      const Operand& operand = node->operands[k];
      if (const auto* value = std::get_if<Value*>(&operand)) {
        text += "%" + (*value)->name;
      } else {
        text += to_string(std::get<Attr>(operand));
      }
    }
    text += ")";
    if (!node->attrs.empty()) {
      text += " {";
      bool first = true;
      for (const auto& [key, attr] : node->attrs) {
        if (!first) text += ", ";
        first = false;
        text += key + "=" + to_string(attr);
      }
      text += "}";
    }
    const std::vector<std::string> names = region_names(node->kind);
    for (size_t r = 0; r < node->regions.size(); ++r) {
      text += " " + (r < names.size() ? names[r] : "region") + signature(*node->regions[r]);
      text += print_body(*node->regions[r], indent + "  ");
    }
    text += "\n";
  }
  text += indent + "return";
  for (size_t k = 0; k < graph.outputs().size(); ++k) {
    text += (k ? ", %" : " %") + graph.outputs()[k]->name;
  }
  return text + "\n" + indent.substr(2) + "}";
}

}  // namespace

std::string print(const Graph& graph) {
  std::string text = "graph" + signature(graph) + print_body(graph, "  ") + "\n";
  for (const auto& [name, function] : graph.functions()) {
    text += "function " + name + signature(*function) + print_body(*function, "  ") + "\n";
  }
  return text;
}

// ----- parsing -----

namespace {

struct Token {
  enum Kind { kIdent, kValue, kInt, kFloat, kString, kPunct, kEnd } kind;
  std::string text;
  int line;
};

std::vector<Token> tokenize(const std::string& source) {
  std::vector<Token> tokens;
  int line = 1;
  size_t i = 0;
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument("IR text, line " + std::to_string(line) + ": " + what);
  };
  auto is_name = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  };
  while (i < source.size()) {
    const char c = source[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '%') {
      size_t j = i + 1;
      while (j < source.size() && is_name(source[j])) ++j;
      if (j == i + 1) fail("'%' must be followed by a value name");
      tokens.push_back({Token::kValue, source.substr(i + 1, j - i - 1), line});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && i + 1 < source.size() &&
                (std::isdigit(static_cast<unsigned char>(source[i + 1])) ||
                 source.compare(i + 1, 3, "inf") == 0))) {
      size_t j = i + 1;
      if (source.compare(i + 1, 3, "inf") == 0) {
        tokens.push_back({Token::kFloat, "-inf", line});
        i += 4;
        continue;
      }
      bool real = false;
      while (j < source.size()) {
        const char d = source[j];
        if (std::isdigit(static_cast<unsigned char>(d))) {
          ++j;
        } else if (d == '.' || d == 'e' || d == 'E') {
          real = true;
          ++j;
          if ((d == 'e' || d == 'E') && j < source.size() && (source[j] == '-' || source[j] == '+'))
            ++j;
        } else {
          break;
        }
      }
      tokens.push_back({real ? Token::kFloat : Token::kInt, source.substr(i, j - i), line});
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < source.size() &&
             (std::isalnum(static_cast<unsigned char>(source[j])) || source[j] == '_'))
        ++j;
      tokens.push_back({Token::kIdent, source.substr(i, j - i), line});
      i = j;
    } else if (c == '"') {
      std::string text;
      size_t j = i + 1;
      while (j < source.size() && source[j] != '"') {
        if (source[j] == '\\' && j + 1 < source.size()) ++j;
        if (source[j] == '\n') fail("unterminated string");
        text += source[j++];
      }
      if (j >= source.size()) fail("unterminated string");
      tokens.push_back({Token::kString, text, line});
      i = j + 1;
    } else if (std::string("()[]{},:=@?*").find(c) != std::string::npos) {
      tokens.push_back({Token::kPunct, std::string(1, c), line});
      ++i;
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
  }
  tokens.push_back({Token::kEnd, "", line});
  return tokens;
}

class Parser {
 public:
  explicit Parser(const std::string& text) : tokens_(tokenize(text)) {}

  std::unique_ptr<Graph> module() {
    expect_ident("graph");
    std::unique_ptr<Graph> g = graph();
    while (peek().kind == Token::kIdent && peek().text == "function") {
      next();
      const Token name = next();
      if (name.kind != Token::kIdent) fail("expected a function name", name);
      std::unique_ptr<Graph> function = graph();
      try {
        g->add_function(name.text, std::move(function));
      } catch (const std::invalid_argument& error) {
        fail(error.what(), name);
      }
    }
    if (peek().kind != Token::kEnd) fail("text after the end of the graph");
    return g;
  }

 private:
  // "(inputs) { statements return ... }", in a scope of its own: the values
  // of enclosing graphs are not visible.
  std::unique_ptr<Graph> graph() {
    auto g = std::make_unique<Graph>();
    std::map<std::string, Value*> outer;
    outer.swap(values_);
    expect("(");
    if (!accept(")")) {
      do {
        const std::string name = value_name();
        expect(":");
        define(name, g->add_input(name, type()));
      } while (accept(","));
      expect(")");
    }
    expect("{");
    while (!(peek().kind == Token::kIdent && peek().text == "return")) statement(*g);
    next();
    std::vector<Value*> outputs;
    if (!(peek().kind == Token::kPunct && peek().text == "}")) {
      do outputs.push_back(use(next()));
      while (accept(","));
    }
    expect("}");
    g->set_outputs(std::move(outputs));
    values_.swap(outer);
    return g;
  }

  void statement(Graph& g) {
    std::vector<std::string> names;
    std::vector<TensorType> types;
    std::vector<bool> typed;
    // A statement without results (an assert) starts with its op name.
    if (peek().kind == Token::kValue) {
      do {
        names.push_back(value_name());
        typed.push_back(accept(":"));
        types.push_back(typed.back() ? type() : TensorType{});
      } while (accept(","));
      expect("=");
    }
    const Token op = next();
    if (op.kind != Token::kIdent) fail("expected an op name", op);
    const std::optional<OpKind> kind = op_from_name(op.text);
    if (!kind) fail("unknown op '" + op.text + "'", op);
    expect("(");
    std::vector<Operand> operands;
    if (!accept(")")) {
      do {
        if (peek().kind == Token::kValue) {
          operands.emplace_back(use(next()));
        } else {
          operands.emplace_back(attr());
        }
      } while (accept(","));
      expect(")");
    }
    std::map<std::string, Attr> attrs;
    if (accept("{")) {
      do {
        const Token key = next();
        if (key.kind != Token::kIdent) fail("expected an attribute name", key);
        expect("=");
        attrs[key.text] = attr();
      } while (accept(","));
      expect("}");
    }
    Node* node = g.add_node(*kind, std::move(operands), std::move(attrs), types, names);
    // Regions: every one its kind has, by name, in order.
    for (const std::string& region : ir::region_names(*kind)) {
      const Token name = next();
      if (name.kind != Token::kIdent || name.text != region) {
        fail("expected the region '" + region + "' of " + op.text, name);
      }
      g.add_region(node, graph());
    }
    for (size_t k = 0; k < names.size(); ++k) {
      node->outputs[k]->typed = typed[k];
      define(names[k], node->outputs[k]);
    }
  }

  TensorType type() {
    TensorType t;
    const Token dtype = next();
    try {
      t.dtype = dtype_from_name(dtype.text);
    } catch (const std::invalid_argument& error) {
      fail(error.what(), dtype);
    }
    expect("[");
    if (!accept("]")) {
      do {
        if (accept("?")) {
          // A symbol, or a product of symbols and sizes such as ?B*T (infer_types).
          std::string text;
          do {
            const Token factor = next();
            if (factor.kind != Token::kIdent && factor.kind != Token::kInt) {
              fail("expected a dimension symbol", factor);
            }
            text += (text.empty() ? "" : "*") + factor.text;
          } while (accept("*"));
          if (std::isdigit(static_cast<unsigned char>(text[0]))) {
            fail("a dimension symbol starts with a letter", peek());
          }
          t.shape.push_back(Dim::symbolic(text));
        } else {
          const Token size = next();
          if (size.kind != Token::kInt) fail("expected a dimension size", size);
          t.shape.push_back(Dim::known(std::strtoll(size.text.c_str(), nullptr, 10)));
        }
      } while (accept(","));
      expect("]");
    }
    if (accept("@")) {
      const Token device = next();
      t.device = device.text;
      if (accept(":")) t.device += ":" + next().text;
    }
    return t;
  }

  Attr attr() {
    const Token token = next();
    switch (token.kind) {
      case Token::kInt:
        return Attr::integer(std::strtoll(token.text.c_str(), nullptr, 10));
      case Token::kFloat:
        return Attr::real(std::strtod(token.text.c_str(), nullptr));
      case Token::kString:
        return Attr::string(token.text);
      case Token::kIdent:
        if (token.text == "none") return Attr::none();
        if (token.text == "true") return Attr::boolean(true);
        if (token.text == "false") return Attr::boolean(false);
        if (token.text == "inf" || token.text == "nan") {
          return Attr::real(std::strtod(token.text.c_str(), nullptr));
        }
        break;
      case Token::kPunct:
        if (token.text == "[") {
          std::vector<Attr> items;
          if (!accept("]")) {
            do items.push_back(attr());
            while (accept(","));
            expect("]");
          }
          return Attr::of_list(std::move(items));
        }
        break;
      default:
        break;
    }
    fail("expected a constant", token);
  }

  std::string value_name() {
    const Token token = next();
    if (token.kind != Token::kValue) fail("expected a %value", token);
    return token.text;
  }

  void define(const std::string& name, Value* value) {
    if (!values_.emplace(name, value).second) fail("value %" + name + " is defined twice");
  }

  Value* use(const Token& token) {
    if (token.kind != Token::kValue) fail("expected a %value", token);
    auto found = values_.find(token.text);
    if (found == values_.end()) {
      fail("value %" + token.text +
               " is used before it is defined (values enter a region only as its inputs)",
           token);
    }
    return found->second;
  }

  const Token& peek() const { return tokens_[position_]; }
  Token next() { return tokens_[position_ < tokens_.size() - 1 ? position_++ : position_]; }

  bool accept(const char* punct) {
    if (peek().kind == Token::kPunct && peek().text == punct) {
      ++position_;
      return true;
    }
    return false;
  }

  void expect(const char* punct) {
    if (!accept(punct)) fail(std::string("expected '") + punct + "'", peek());
  }

  void expect_ident(const char* word) {
    const Token token = next();
    if (token.kind != Token::kIdent || token.text != word) {
      fail(std::string("expected '") + word + "'", token);
    }
  }

  [[noreturn]] void fail(const std::string& what) const { fail(what, peek()); }
  [[noreturn]] void fail(const std::string& what, const Token& at) const {
    throw std::invalid_argument(
        "IR text, line " + std::to_string(at.line) + ": " + what +
        (at.kind == Token::kEnd ? " (at the end)" : " near '" + at.text + "'"));
  }

  std::vector<Token> tokens_;
  size_t position_ = 0;
  std::map<std::string, Value*> values_;
};

}  // namespace

std::unique_ptr<Graph> parse(const std::string& text) { return Parser(text).module(); }

}  // namespace janus::ir
