#include "parse/parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

#include "ir/error.hpp"

namespace matcalc {

namespace {

struct Token {
  enum class T { Num, Ident, Op, End };
  T t;
  std::string s;
  int pos;
  double num = 0;
  bool integer = false;
};

class Lexer {
 public:
  Lexer(const std::string& src, int base) : src_(src), base_(base) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    std::size_t i = 0;
    while (true) {
      // Whitespace, line breaks and `#` comments (to the end of the line).
      while (i < src_.size() && (std::isspace(static_cast<unsigned char>(src_[i])) || src_[i] == '#')) {
        if (src_[i] == '#')
          while (i < src_.size() && src_[i] != '\n') ++i;
        else
          ++i;
      }
      int pos = base_ + static_cast<int>(i);
      if (i >= src_.size()) {
        out.push_back({Token::T::End, "", pos});
        return out;
      }
      char c = src_[i];
      auto digit = [&](std::size_t j) {
        return j < src_.size() && std::isdigit(static_cast<unsigned char>(src_[j]));
      };
      if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && digit(i + 1))) {
        std::size_t j = i;
        bool integer = true;
        while (digit(j)) ++j;
        if (j < src_.size() && src_[j] == '.' && digit(j + 1)) {  // never ends in '.'
          integer = false;
          ++j;
          while (digit(j)) ++j;
        }
        if (j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
          std::size_t k = j + 1;
          if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
          if (digit(k)) {
            integer = false;
            j = k;
            while (digit(j)) ++j;
          }
        }
        std::string text = src_.substr(i, j - i);
        double v = std::strtod(text.c_str(), nullptr);
        if (!std::isfinite(v))
          throw Error(ErrorKind::Syntax, "number out of range: " + text, pos + 1,
                      static_cast<int>(text.size()));
        out.push_back({Token::T::Num, text, pos, v, integer});
        i = j;
        continue;
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        std::size_t j = i;
        while (j < src_.size() &&
               (std::isalnum(static_cast<unsigned char>(src_[j])) || src_[j] == '_'))
          ++j;
        out.push_back({Token::T::Ident, src_.substr(i, j - i), pos});
        i = j;
        continue;
      }
      if (c == '.' && i + 1 < src_.size() &&
          (src_[i + 1] == '*' || src_[i + 1] == '/' || src_[i + 1] == '^')) {
        out.push_back({Token::T::Op, src_.substr(i, 2), pos});
        i += 2;
        continue;
      }
      if (std::string("+-*/^':(),;").find(c) != std::string::npos) {
        out.push_back({Token::T::Op, std::string(1, c), pos});
        ++i;
        continue;
      }
      std::string shown = std::isprint(static_cast<unsigned char>(c))
                              ? std::string("'") + c + "'"
                              : "byte 0x" + [&] {
                                  char buf[8];
                                  std::snprintf(buf, sizeof buf, "%02x",
                                                static_cast<unsigned char>(c));
                                  return std::string(buf);
                                }();
      throw Error(ErrorKind::Syntax, "unexpected character " + shown, pos + 1);
    }
  }

 private:
  const std::string& src_;
  int base_;
};

std::string describe(const Token& t) {
  if (t.t == Token::T::End) return "end of input";
  return "'" + t.s + "'";
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)) {}

  AstPtr parse_all() {
    AstPtr e = expr();
    if (peek().t != Token::T::End) {
      if (is_op(")")) fail("unmatched ')'");
      fail("unexpected " + describe(peek()) + " after a complete expression");
    }
    return e;
  }

 private:
  std::vector<Token> toks_;
  std::size_t i_ = 0;
  int depth_ = 0;

  struct DepthGuard {
    int& d;
    DepthGuard(int& depth, const Token& at) : d(depth) {
      if (++d > kMaxNesting)
        throw Error(ErrorKind::Limit,
                    "expression nested too deeply (limit " + std::to_string(kMaxNesting) +
                        " levels)",
                    at.pos + 1);
    }
    ~DepthGuard() { --d; }
  };

  // Appends a child. Every node's height (the longest path down to a leaf)
  // is bounded, whatever builds it up: parentheses, signs, power chains
  // inside parentheses inside power chains. Later passes recurse on the tree.
  void adopt(Ast& parent, AstPtr kid) {
    parent.height = std::max(parent.height, kid->height + 1);
    if (parent.height > kMaxHeight)
      throw Error(ErrorKind::Limit,
                  "expression nested too deeply (more than " + std::to_string(kMaxHeight) + " levels of operators)",
                  parent.pos + 1, parent.len);
    parent.kids.push_back(std::move(kid));
  }

  const Token& peek() const { return toks_[i_]; }
  bool is_op(const char* s) const { return peek().t == Token::T::Op && peek().s == s; }
  Token next() { return toks_[i_ < toks_.size() - 1 ? i_++ : i_]; }
  [[noreturn]] void fail(const std::string& msg) {
    throw Error(ErrorKind::Syntax, msg, peek().pos + 1,
                std::max(1, static_cast<int>(peek().s.size())));
  }
  void expect(const char* s, const std::string& ctx) {
    if (!is_op(s)) fail("expected '" + std::string(s) + "' " + ctx + ", found " + describe(peek()));
    next();
  }

  // Builds a flat chain node for one precedence level.
  template <typename Sub>
  AstPtr chain(std::initializer_list<const char*> ops, Sub sub) {
    AstPtr first = (this->*sub)();
    AstPtr node;
    while (peek().t == Token::T::Op) {
      const char* hit = nullptr;
      for (const char* o : ops)
        if (peek().s == o) hit = o;
      if (!hit) break;
      Token op = next();
      if (!node) {
        node = std::make_unique<Ast>(Ast::Kind::Chain, op.pos, 1);
        node->ops.push_back("");
        adopt(*node, std::move(first));
      }
      node->ops.push_back(hit);
      adopt(*node, (this->*sub)());
    }
    return node ? std::move(node) : std::move(first);
  }

  // expr := frob (('+' | '-') frob)*
  AstPtr expr() {
    DepthGuard g(depth_, peek());
    return chain({"+", "-"}, &Parser::frob);
  }
  // frob := term (':' term)*
  AstPtr frob() { return chain({":"}, &Parser::term); }
  // term := unary (('*' | '/' | '.*' | './') unary)*
  AstPtr term() { return chain({"*", "/", ".*", "./"}, &Parser::unary); }

  // unary := ('-' | '+') unary | power
  AstPtr unary() {
    if (is_op("-") || is_op("+")) {
      DepthGuard g(depth_, peek());
      Token op = next();
      AstPtr operand = unary();
      if (op.s == "+") return operand;
      auto n = std::make_unique<Ast>(Ast::Kind::Neg, op.pos);
      adopt(*n, std::move(operand));
      return n;
    }
    return power();
  }

  // power := primary ( ('^' | '.^') exponent | "'" )*
  // exponent := ('-' | '+')? primary          (X^-1, x.^-2)
  AstPtr power() {
    AstPtr base = primary();
    int powers = 0;
    while (true) {
      if (is_op("'")) {
        Token t = next();
        int count = 1;
        while (is_op("'")) next(), ++count;
        if (count % 2 == 0) continue;  // X'' is X
        auto n = std::make_unique<Ast>(Ast::Kind::Transpose, t.pos);
        adopt(*n, std::move(base));
        base = std::move(n);
      } else if (is_op("^") || is_op(".^")) {
        Token op = next();
        if (++powers > kMaxNesting)
          throw Error(ErrorKind::Limit,
                      "too many chained powers (limit " + std::to_string(kMaxNesting) + ")", op.pos + 1);
        AstPtr ex;
        if (is_op("-") || is_op("+")) {
          Token sign = next();
          AstPtr p = primary();
          if (sign.s == "-") {
            auto n = std::make_unique<Ast>(Ast::Kind::Neg, sign.pos);
            adopt(*n, std::move(p));
            p = std::move(n);
          }
          ex = std::move(p);
        } else {
          ex = primary();
        }
        auto n = std::make_unique<Ast>(Ast::Kind::Power, op.pos, static_cast<int>(op.s.size()));
        n->text = op.s;
        adopt(*n, std::move(base));
        adopt(*n, std::move(ex));
        base = std::move(n);
      } else {
        return base;
      }
    }
  }

  // primary := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'
  AstPtr primary() {
    const Token& t = peek();
    if (t.t == Token::T::Num) {
      Token n = next();
      auto a = std::make_unique<Ast>(Ast::Kind::Number, n.pos, static_cast<int>(n.s.size()));
      a->number = n.num;
      a->integer_literal = n.integer;
      a->text = n.s;
      return a;
    }
    if (t.t == Token::T::Ident) {
      Token id = next();
      if (is_op("(")) {
        Token open = next();
        auto call = std::make_unique<Ast>(Ast::Kind::Call, id.pos, static_cast<int>(id.s.size()));
        call->text = id.s;
        if (is_op(")")) fail("'" + id.s + "' needs at least one argument");
        adopt(*call, expr());
        while (is_op(",")) {
          next();
          adopt(*call, expr());
        }
        if (peek().t == Token::T::End)
          throw Error(ErrorKind::Syntax, "unclosed '(' of the call of '" + id.s + "'", open.pos + 1);
        expect(")", "to close the call of '" + id.s + "'");
        return call;
      }
      auto a = std::make_unique<Ast>(Ast::Kind::Name, id.pos, static_cast<int>(id.s.size()));
      a->text = id.s;
      return a;
    }
    if (is_op("(")) {
      Token open = next();
      if (is_op(")")) fail("empty parentheses");
      AstPtr e = expr();
      if (!is_op(")")) {
        if (peek().t == Token::T::End)
          throw Error(ErrorKind::Syntax, "unclosed '('", open.pos + 1);
        fail("expected ')' , found " + describe(peek()));
      }
      next();
      return e;
    }
    if (t.t == Token::T::End) fail("unexpected end of input: an operand is missing");
    fail("unexpected " + describe(t) + ": expected a number, a name or '('");
  }
};

bool is_type_word(const std::string& s) {
  return s == "scalar" || s == "vector" || s == "matrix" || s == "symmetric";
}

// One item split off a program: its text and offset.
struct Item {
  std::string text;
  int pos;
};

bool looks_like_declaration(const std::vector<Token>& toks);

// Whether `text` is (the start of) a declaration `name: type`.
bool declaration_text(const std::string& text) {
  try {
    return looks_like_declaration(Lexer(text, 0).run());
  } catch (const Error&) {
    return false;  // the item's own parse reports it
  }
}

// A character that leaves an operand missing when a line ends with it.
bool wants_operand(char c) { return std::string_view("+-*/^:,(").find(c) != std::string_view::npos; }

// Splits a program into items: at ';', and at a line break that ends a
// complete item. A line break does not end an item inside parentheses,
// after an operator or ',' that still wants its right operand, or (in an
// expression, not a declaration) before a line that begins with a binary
// operator (`+ b`, `* c`, `: dX`), so an expression may run over several
// lines. `#` starts a comment to the end of the line, in any item.
std::vector<Item> split_items(const std::string& src) {
  std::vector<Item> items;
  std::size_t start = 0;
  int depth = 0;
  char last = 0;  // the item's last character that is neither space nor comment
  // Whether the item is a declaration: its first tokens decide, so it is
  // lexed once, at its first line break (not at every line: a long sum over
  // many lines stays linear).
  std::optional<bool> declaration;
  auto flush = [&](std::size_t end) {
    std::string t = src.substr(start, end - start);
    if (last != 0) items.push_back({t, static_cast<int>(start)});
    start = end + 1;
    depth = 0;
    last = 0;
    declaration.reset();
  };
  // The first character of the next line that holds anything but space and comments.
  auto next_significant = [&](std::size_t i) -> std::size_t {
    while (i < src.size()) {
      if (src[i] == '#')
        while (i < src.size() && src[i] != '\n') ++i;
      else if (std::isspace(static_cast<unsigned char>(src[i])))
        ++i;
      else
        return i;
    }
    return src.size();
  };
  for (std::size_t i = 0; i < src.size(); ++i) {
    const char c = src[i];
    if (c == '#') {
      while (i + 1 < src.size() && src[i + 1] != '\n') ++i;
      continue;
    }
    if (c == ';') {
      flush(i);
      continue;
    }
    if (c == '\n') {
      if (last == 0 || depth > 0 || wants_operand(last)) continue;
      std::size_t k = next_significant(i + 1);
      const bool binary_next =
          k < src.size() &&
          (std::string_view("+-*/^:").find(src[k]) != std::string_view::npos ||
           (src[k] == '.' && k + 1 < src.size() && std::string_view("*/^").find(src[k + 1]) != std::string_view::npos));
      if (binary_next && !declaration) declaration = declaration_text(src.substr(start, i - start));
      if (binary_next && !*declaration) continue;
      flush(i);
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')' && depth > 0) --depth;
    if (!std::isspace(static_cast<unsigned char>(c))) last = c;
  }
  flush(src.size());
  return items;
}

// dim := factor ('*' factor)* ;  factor := INT | NAME
Dim parse_dim(const std::vector<Token>& toks, std::size_t& i) {
  Dim d = Dim::literal(1);
  while (true) {
    const Token& t = toks[i];
    if (t.t == Token::T::Num && t.integer && t.num >= 1 && t.num <= 1e9) {
      d = d * Dim::literal(static_cast<std::int64_t>(t.num));
    } else if (t.t == Token::T::Ident && !is_function_name(t.s) && t.s != "I") {
      d = d * Dim::symbol(t.s);
    } else {
      throw Error(ErrorKind::Syntax,
                  "expected a dimension (a positive integer up to 1e9 or a name), found " +
                      describe(t),
                  t.pos + 1, std::max<int>(1, static_cast<int>(t.s.size())));
    }
    ++i;
    if (toks[i].t == Token::T::Op && toks[i].s == "*") {
      ++i;
      continue;
    }
    return d;
  }
}

bool looks_like_declaration(const std::vector<Token>& toks) {
  return toks.size() >= 4 && toks[0].t == Token::T::Ident && toks[1].t == Token::T::Op &&
         toks[1].s == ":" && toks[2].t == Token::T::Ident && is_type_word(toks[2].s) &&
         (toks[3].t == Token::T::End || (toks[3].t == Token::T::Op && toks[3].s == "("));
}

Declaration parse_one_declaration(const std::vector<Token>& toks) {
  // decl := NAME ':' ( 'scalar' | 'vector' '(' dim ')' | 'matrix' '(' dim ',' dim ')'
  //                  | 'symmetric' '(' dim ')' )
  Declaration d;
  d.name = toks[0].s;
  d.pos = toks[0].pos;
  const std::string& type = toks[2].s;
  std::size_t i = 3;
  auto expect = [&](const char* s) {
    if (!(toks[i].t == Token::T::Op && toks[i].s == s))
      throw Error(ErrorKind::Syntax,
                  "expected '" + std::string(s) + "' in the declaration of " + d.name +
                      ", found " + describe(toks[i]),
                  toks[i].pos + 1);
    ++i;
  };
  if (type == "scalar") {
    d.kind = Declaration::Kind::Scalar;
  } else if (type == "vector" || type == "symmetric") {
    d.kind = type == "vector" ? Declaration::Kind::Vector : Declaration::Kind::Symmetric;
    expect("(");
    d.rows = parse_dim(toks, i);
    d.cols = type == "vector" ? Dim::literal(1) : d.rows;
    expect(")");
  } else {
    d.kind = Declaration::Kind::Matrix;
    expect("(");
    d.rows = parse_dim(toks, i);
    expect(",");
    d.cols = parse_dim(toks, i);
    expect(")");
  }
  if (toks[i].t != Token::T::End)
    throw Error(ErrorKind::Syntax, "unexpected " + describe(toks[i]) + " after the declaration of " + d.name,
                toks[i].pos + 1);
  return d;
}

}  // namespace

AstPtr parse_expression(const std::string& src, int base) {
  if (src.size() > kMaxSourceBytes)
    throw Error(ErrorKind::Limit, "expression longer than " + std::to_string(kMaxSourceBytes) + " bytes");
  Parser p(Lexer(src, base).run());
  return p.parse_all();
}

Declarations parse_declarations(const std::string& src) {
  Declarations out;
  for (const Item& it : split_items(src)) {
    auto toks = Lexer(it.text, it.pos).run();
    if (!looks_like_declaration(toks))
      throw Error(ErrorKind::Syntax,
                  "expected a declaration such as 'W: matrix(n,k)', found '" + it.text + "'",
                  toks[0].pos + 1, std::max(1, static_cast<int>(toks[0].s.size())));
    out.push_back(parse_one_declaration(toks));
  }
  return out;
}

Program parse_program(const std::string& src) {
  if (src.size() > kMaxSourceBytes)
    throw Error(ErrorKind::Limit, "input longer than " + std::to_string(kMaxSourceBytes) + " bytes");
  Program prog;
  auto items = split_items(src);
  for (std::size_t k = 0; k < items.size(); ++k) {
    auto toks = Lexer(items[k].text, items[k].pos).run();
    if (looks_like_declaration(toks)) {
      if (prog.expr)
        throw Error(ErrorKind::Syntax, "a declaration after the expression", toks[0].pos + 1);
      prog.decls.push_back(parse_one_declaration(toks));
      continue;
    }
    if (prog.expr)
      throw Error(ErrorKind::Syntax, "more than one expression (separate declarations, not expressions, with ';')",
                  items[k].pos + 1);
    prog.expr = Parser(std::move(toks)).parse_all();
  }
  if (!prog.expr) throw Error(ErrorKind::Syntax, "no expression given", 1);
  return prog;
}

}  // namespace matcalc
